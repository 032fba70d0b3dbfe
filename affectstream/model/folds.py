"""Held-out splits that fit the data: by group (subject, or recording where there are no subject
ids), stratified by class where classes and groups allow, with a fold count the data can hold.

Every stage of ``affectstream train`` (the main table, the ablation, the learning curve) takes
its folds from here, so none of them can fail where another runs. A split that would leave a
class out of every training set of some fold is refused with :class:`SplitError`, whose message
says which class and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectstream.model.windows import WindowSet

#: Shuffles of the stratified split tried before the fold count is lowered.
TRIES = 10

Folds = list[tuple[np.ndarray, np.ndarray]]


class SplitError(ValueError):
    """The data cannot be split so that every class is in training and in test."""


@dataclass
class FoldPlan:
    """Folds and what the split could and could not do.

    Attributes
    ----------
    folds
        ``(train, test)`` window indices per fold.
    kind
        What split was made, in words (e.g. ``"stratified group k-fold"``).
    by
        The group: ``"subject"`` or ``"recording"``.
    requested
        The fold count asked for (``n_splits``; the number of groups for leave-one-out).
    notes
        Plain sentences for the report: why the fold count differs from the one asked for,
        which classes some test folds lack.
    """

    folds: Folds
    kind: str
    by: str
    requested: int
    notes: list[str] = field(default_factory=list)

    @property
    def n_folds(self) -> int:
        """The number of folds made."""
        return len(self.folds)


def groups_per_class(y: np.ndarray, groups: np.ndarray, n_classes: int) -> np.ndarray:
    """How many distinct groups hold windows of each class, shape ``(n_classes,)``."""
    return np.array([np.unique(groups[y == c]).size for c in range(n_classes)], dtype=np.int64)


def check_splittable(
    y: np.ndarray, groups: np.ndarray, classes: list[str], by: str = "subject"
) -> None:
    """Raise :class:`SplitError` unless every class can be in training and test of a fold:
    at least two groups, and every class in at least two groups."""
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise SplitError(
            f"only {n_groups} {by}(s): a held-out split needs at least 2; add data from more "
            f"{by}s or supply subject ids (--subject-column, --records-per-subject, --groups-file)"
        )
    per = groups_per_class(y, groups, len(classes))
    lone = [f"{classes[c]!r} ({int(per[c])} {by})" for c in range(len(classes)) if per[c] < 2]
    if lone:
        raise SplitError(
            f"class(es) {', '.join(lone)} are held by fewer than 2 {by}s, so no split can put "
            "them in training and test: a model never trained on a class scores 0 on it. "
            f"Record each class from at least 2 {by}s, or leave the class out of the labels"
        )


def _missing(y: np.ndarray, idx: np.ndarray, n_classes: int) -> list[int]:
    return sorted(set(range(n_classes)) - set(np.unique(y[idx]).tolist()))


def plan_folds(
    y: np.ndarray,
    groups: np.ndarray,
    classes: list[str],
    split: str = "groupkfold",
    n_splits: int = 6,
    seed: int = 0,
    by: str = "subject",
) -> FoldPlan:
    """Folds by group in which every fold's training set holds every class.

    Parameters
    ----------
    y, groups
        Class index and group (subject or recording) per window, shape ``(n_windows,)``.
    classes
        Class names, ``len(classes)`` classes.
    split
        ``"groupkfold"``: stratified group k-fold (scikit-learn's ``StratifiedGroupKFold``,
        shuffled with ``seed``) with at most ``n_splits`` folds and no more than the fewest
        groups holding one class (so each class can be in every training set); ``"loso"``:
        leave one group out.
    by
        What a group is, for the messages (``"subject"`` or ``"recording"``).

    Raises :class:`SplitError` when a class is held by fewer than 2 groups, or when no fold
    count from the chosen one down to 2 gives folds whose training sets hold every class.
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    k_classes = len(classes)
    check_splittable(y, groups, classes, by)
    n_groups = np.unique(groups).size
    per = groups_per_class(y, groups, k_classes)
    notes: list[str] = []
    if split == "loso":
        folds = [(tr, te) for tr, te in LeaveOneGroupOut().split(y, y, groups)]
        plan = FoldPlan(folds, f"leave one {by} out", by, n_groups, notes)
    else:
        k = int(min(n_splits, n_groups, per.min()))
        if k < n_splits:
            c = int(per.argmin())
            why = (
                f"there are only {n_groups} {by}s"
                if n_groups <= per.min()
                else f"class {classes[c]!r} is held by only {int(per[c])} {by}s"
            )
            notes.append(
                f"{k} folds instead of the {n_splits} asked for: {why}, and each class must "
                "stay in every fold's training set"
            )
        folds = []
        while k >= 2 and not folds:
            for t in range(TRIES):
                cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + t)
                cand = [(tr, te) for tr, te in cv.split(y, y, groups)]
                if all(not _missing(y, tr, k_classes) for tr, _ in cand):
                    folds = cand
                    break
            else:
                notes.append(
                    f"{k} folds left a class out of some training set with every shuffle "
                    f"tried; {k - 1} folds instead"
                )
                k -= 1
        if not folds:
            raise SplitError(
                f"no stratified split by {by} keeps every class in training: each class is "
                f"held by {', '.join(f'{classes[c]} {int(per[c])}' for c in range(k_classes))} "
                f"{by}s; add {by}s or merge rare classes"
            )
        plan = FoldPlan(folds, "stratified group k-fold", by, n_splits, notes)
    for tr, te in plan.folds:  # the promise of this module; cheap enough to check every time
        # real checks, not asserts: `python -O` must not strip the promise
        if set(groups[tr]) & set(groups[te]):
            raise RuntimeError(f"internal error: a {by} is in both train and test of a fold")
        if _missing(y, tr, k_classes):
            raise RuntimeError("internal error: a class is missing from a training set")
    lacking = [
        (fi + 1, [classes[c] for c in _missing(y, te, k_classes)])
        for fi, (_, te) in enumerate(plan.folds)
    ]
    lacking = [(f, m) for f, m in lacking if m]
    if lacking:
        notes.append(
            "some test folds lack classes (scored over all held-out windows together, so every "
            "class is still scored): "
            + "; ".join(f"fold {f} has no {', '.join(m)}" for f, m in lacking)
        )
    return plan


def make_folds(
    ws: WindowSet, split: str, n_splits: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test indices by subject (or recording): the folds of :func:`plan_folds`."""
    return plan_window_folds(ws, split, n_splits, seed).folds


def plan_window_folds(ws: WindowSet, split: str, n_splits: int, seed: int = 0) -> FoldPlan:
    """:func:`plan_folds` for a window set: its labels and subjects (recordings where it has
    no subject ids)."""
    by = "subject" if ws.has_subject_ids else "recording"
    return plan_folds(ws.y, ws.subject, ws.classes, split, n_splits, seed, by)


def leaky_folds(y: np.ndarray, n_splits: int, seed: int = 0) -> Folds:
    """Window-wise stratified folds (the leaky reference of the ablation): at most ``n_splits``
    and no more than the smallest class's windows; empty when a class has fewer than 2."""
    from sklearn.model_selection import StratifiedKFold

    k = int(min(n_splits, np.unique(y, return_counts=True)[1].min()))
    if k < 2:
        return []
    return [
        (tr, te)
        for tr, te in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(y, y)
    ]
