"""Nested, subject-wise evaluation of the exportable feature model's whole procedure.

The procedure :func:`choose` runs on a set of training people only: for every candidate
(feature calibration rule x regularisation strength) it fits inner subject-wise folds, takes the
out-of-fold predictions of the inner test people's *calm-day* sessions to set the operating
point (the :class:`~affectstream.dsp.calibration.OutputOffset` that calls a target share of
calm windows something else), scores the inner folds' balanced accuracy at that point, and keeps
the best candidate, refitted on every training person. :func:`nested_evaluation` runs it inside
each outer fold and scores the outer test people on their normal sessions and on their calm-day
and stress-heavy re-cuts (:mod:`affectstream.model.prevalence`): the headline figures. No test
person's window reaches any choice: :func:`choose` sees only the rows of the people it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectstream.dsp.calibration import OutputOffset, offset_for_false_alarms
from affectstream.model import baselines
from affectstream.model.calibrated import replayed_features, warm_rows
from affectstream.model.feature_calibration import FeatureRule
from affectstream.model.metrics import (
    balanced_accuracy,
    mean_interval,
    shift_permutation_pvalue,
    summarize,
)
from affectstream.model.windows import WindowSet

#: Default target share of calm windows called something else, for the operating point.
DEFAULT_FALSE_ALARM_RATE = 0.10

#: Regularisation strengths of the logistic regression the selection compares.
DEFAULT_C = (0.03, 0.1, 0.3)


@dataclass(frozen=True)
class Candidate:
    """One configuration the selection may choose: a feature rule and the logistic
    regression's inverse regularisation strength ``c``."""

    rule: FeatureRule
    c: float

    @property
    def name(self) -> str:
        return f"{self.rule.name}, C={self.c:g}"


@dataclass
class PrevalenceSets:
    """The same people's windows three ways, each with the candidates' inputs precomputed.

    ``normal``: the sessions as recorded; ``calm``: their calm-day re-cuts; ``heavy``: their
    stress-heavy re-cuts. ``inputs[(set, rule)]`` holds the rule's replayed features for every
    row of that set, shape ``(len(set), n_features)``.
    """

    normal: WindowSet
    calm: WindowSet
    heavy: WindowSet
    rest_class: int
    inputs: dict[tuple[str, FeatureRule], np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        normal: WindowSet,
        calm: WindowSet,
        heavy: WindowSet,
        rest_class: int,
        rules: Sequence[FeatureRule],
    ) -> PrevalenceSets:
        """Keep each set's windows after the warm-up and replay every rule over them."""
        warm = max(r.min_s for r in rules)
        sets = {}
        for name, ws in (("normal", normal), ("calm", calm), ("heavy", heavy)):
            sets[name] = ws.subset(warm_rows(ws, {"kind": "running", "min_s": warm}))
        out = cls(sets["normal"], sets["calm"], sets["heavy"], rest_class)
        for name in sets:
            ws = getattr(out, name)
            for r in rules:
                out.inputs[(name, r)] = replayed_features(ws, np.arange(len(ws)), r)
        return out

    def rows(self, name: str, subjects: np.ndarray) -> np.ndarray:
        """Indices of ``subjects``' rows in set ``name``."""
        return np.flatnonzero(np.isin(getattr(self, name).subject, subjects))


@dataclass
class Choice:
    """What :func:`choose` picked on a set of training people."""

    candidate: Candidate
    log_offset: float
    inner_scores: dict[str, float]
    model: Any = None


def _fit(sets: PrevalenceSets, cand: Candidate, rows: np.ndarray, seed: int) -> Any:
    est = baselines.logistic_regression(seed, c=cand.c)
    return est.fit(sets.inputs[("normal", cand.rule)][rows], sets.normal.y[rows])


def _predict(model: Any, x: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((x.shape[0], k))
    if len(x):
        out[:, model.classes_] = model.predict_proba(x)
    return out


def inner_search(
    sets: PrevalenceSets,
    train_subjects: np.ndarray,
    candidates: Sequence[Candidate],
    false_alarm_rate: float,
    seed: int,
    n_inner: int = 5,
) -> tuple[dict[str, float], dict[str, float]]:
    """Every candidate on inner subject-wise folds of ``train_subjects`` alone: its operating
    point (log offset, from the inner test people's calm-day windows) and its inner balanced
    accuracy at that point, both keyed by :attr:`Candidate.name`.

    Only rows of ``train_subjects`` are read (in all three sets).
    """
    from sklearn.model_selection import GroupKFold

    k = len(sets.normal.classes)
    tr = sets.rows("normal", train_subjects)
    cal = sets.rows("calm", train_subjects)
    groups = sets.normal.subject[tr]
    n_folds = min(n_inner, np.unique(groups).size)
    if n_folds < 2:
        raise ValueError(
            f"nested selection needs at least 2 training people; got {np.unique(groups).size}"
        )
    inner = list(GroupKFold(n_splits=n_folds).split(tr, groups=groups))
    scores: dict[str, float] = {}
    offsets: dict[str, float] = {}
    for cand in candidates:
        oof = np.zeros((tr.size, k))
        oof_calm = np.zeros((cal.size, k))
        for itr, ite in inner:
            model = _fit(sets, cand, tr[itr], seed)
            oof[ite] = _predict(model, sets.inputs[("normal", cand.rule)][tr[ite]], k)
            cm = np.isin(sets.calm.subject[cal], np.unique(groups[ite]))
            oof_calm[cm] = _predict(model, sets.inputs[("calm", cand.rule)][cal[cm]], k)
        b = offset_for_false_alarms(oof_calm, sets.rest_class, false_alarm_rate)
        pred = OutputOffset(sets.rest_class, b).apply(oof).argmax(1)
        scores[cand.name] = balanced_accuracy(sets.normal.y[tr], pred, k)
        offsets[cand.name] = b
    return scores, offsets


def choose(
    sets: PrevalenceSets,
    train_subjects: np.ndarray,
    candidates: Sequence[Candidate],
    false_alarm_rate: float,
    seed: int,
    n_inner: int = 5,
) -> Choice:
    """The procedure on ``train_subjects`` alone: :func:`inner_search`, then the candidate with
    the best inner balanced accuracy at its operating point, refitted on all of them."""
    scores, offsets = inner_search(
        sets, train_subjects, candidates, false_alarm_rate, seed, n_inner
    )
    best = max(candidates, key=lambda c: scores[c.name])  # first of equals
    tr = sets.rows("normal", train_subjects)
    return Choice(best, offsets[best.name], scores, _fit(sets, best, tr, seed))


def serve(sets: PrevalenceSets, choice: Choice, name: str, rows: np.ndarray) -> np.ndarray:
    """Class probabilities as the exported bundle serves them for rows of set ``name``."""
    k = len(sets.normal.classes)
    x = sets.inputs[(name, choice.candidate.rule)][rows]
    return OutputOffset(sets.rest_class, choice.log_offset).apply(_predict(choice.model, x, k))


def prevalence_figures(
    sets: PrevalenceSets,
    probs: dict[str, np.ndarray],
    permutations: int,
    seed: int,
) -> dict[str, Any]:
    """Balanced accuracy (with its interval and permutation p-value), calm-day false-alarm rate
    and stress-heavy sensitivity of held-out probabilities for every row of each set."""
    rest = sets.rest_class
    ws, k = sets.normal, len(sets.normal.classes)
    pred = probs["normal"].argmax(1)
    s = summarize(ws.y, pred, ws.subject, ws.classes)
    s["p_value"] = (
        shift_permutation_pvalue(ws.y, pred, ws.subject, k, permutations, seed)
        if permutations
        else None
    )
    calm_alarm = probs["calm"].argmax(1) != rest
    per_person = {
        str(p): float(calm_alarm[sets.calm.subject == p].mean())
        for p in np.unique(sets.calm.subject)
    }
    heavy_pred = probs["heavy"].argmax(1)
    hy = sets.heavy.y
    stress = hy != rest
    # the opening rest: rest windows before the session's first other label (the demo's case)
    first_other = {
        sess: ws.t_end[(ws.session == sess) & (ws.y != rest)].min(initial=np.inf)
        for sess in np.unique(ws.session)
    }
    opening = (ws.y == rest) & (ws.t_end < np.array([first_other[x] for x in ws.session]))
    fmean, flo, fhi = mean_interval(list(per_person.values()))
    return {
        "balanced_accuracy": s["balanced_accuracy"],
        "macro_f1": s["macro_f1"],
        "subject_balanced_accuracy": s["subject_balanced_accuracy"],
        "p_value": s["p_value"],
        "chance_level": 1.0 / k,
        "confusion": s["confusion"],
        "per_subject": s["per_subject"],
        "sensitivity": float((pred[ws.y != rest] == ws.y[ws.y != rest]).mean()),
        "opening_rest_false_alarm_rate": float((pred[opening] != rest).mean())
        if opening.any()
        else float("nan"),
        "calm_day": {
            "n_windows": int(calm_alarm.size),
            "false_alarm_rate": float(calm_alarm.mean()) if calm_alarm.size else float("nan"),
            "per_subject_mean": fmean,
            "per_subject_ci95": [flo, fhi],
            "per_subject_range": [min(per_person.values()), max(per_person.values())]
            if per_person
            else [float("nan")] * 2,
            "per_subject": per_person,
        },
        "stress_heavy": {
            "n_windows": int(hy.size),
            "share_not_rest": float(stress.mean()) if hy.size else float("nan"),
            "sensitivity": float((heavy_pred[stress] == hy[stress]).mean())
            if stress.any()
            else float("nan"),
            "balanced_accuracy": balanced_accuracy(hy, heavy_pred, k),
        },
    }


def nested_evaluation(
    sets: PrevalenceSets,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    candidates: Sequence[Candidate],
    false_alarm_rate: float,
    seed: int,
    permutations: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score :func:`choose` on outer subject-wise ``folds``: ``(train_subjects,
    test_subjects)`` arrays of subject ids.

    Returns the headline figures of the whole procedure (``procedure``), each candidate's
    figures under the same folds with its own inner-chosen operating point (``candidates``:
    comparisons, not what the procedure would pick), and each fold's choice (``folds``).
    """
    ws = sets.normal
    names = ("normal", "calm", "heavy")
    held = {n: np.full((len(getattr(sets, n)), len(ws.classes)), np.nan) for n in names}
    per_cand = {c.name: {n: np.full_like(held[n], np.nan) for n in names} for c in candidates}
    at_argmax = {c.name: {n: np.full_like(held[n], np.nan) for n in names} for c in candidates}
    chosen: list[dict[str, Any]] = []
    for fi, (train_subj, test_subj) in enumerate(folds):
        if set(map(str, train_subj)) & set(map(str, test_subj)):
            raise ValueError(f"outer fold {fi + 1} has people in both training and test")
        scores, offsets = inner_search(sets, train_subj, candidates, false_alarm_rate, seed)
        tr = sets.rows("normal", train_subj)
        alone = {  # each candidate alone, its operating point chosen inside
            c.name: Choice(c, offsets[c.name], scores, _fit(sets, c, tr, seed)) for c in candidates
        }
        choice = alone[max(candidates, key=lambda c: scores[c.name]).name]
        for n in names:
            rows = sets.rows(n, test_subj)
            held[n][rows] = serve(sets, choice, n, rows)
        for cand in candidates:
            for n in names:
                rows = sets.rows(n, test_subj)
                per_cand[cand.name][n][rows] = serve(sets, alone[cand.name], n, rows)
                raw = dataclasses.replace(alone[cand.name], log_offset=0.0)
                at_argmax[cand.name][n][rows] = serve(sets, raw, n, rows)
        chosen.append(
            {
                "fold": fi + 1,
                "test_subjects": sorted(map(str, test_subj)),
                "candidate": choice.candidate.name,
                "log_offset": choice.log_offset,
                "inner_balanced_accuracy": choice.inner_scores,
            }
        )
        if progress:
            progress(
                f"nested fold {fi + 1}/{len(folds)}: chose {choice.candidate.name} "
                f"(inner {choice.inner_scores[choice.candidate.name]:.3f})"
            )
    return {
        "false_alarm_target": false_alarm_rate,
        "procedure": prevalence_figures(sets, held, permutations, seed),
        "candidates": {c: prevalence_figures(sets, p, 0, seed) for c, p in per_cand.items()},
        "candidates_at_argmax": {
            c: prevalence_figures(sets, p, 0, seed) for c, p in at_argmax.items()
        },
        "folds": chosen,
        "held_out": held,
    }


def nested_stage(
    recordings: Sequence[Any],
    preprocess: dict[str, Any],
    normal: WindowSet,
    subject_folds: Sequence[tuple[np.ndarray, np.ndarray]],
    rest_label: str,
    *,
    rules: Sequence[FeatureRule],
    c_values: Sequence[float],
    false_alarm_rate: float,
    seed: int,
    permutations: int,
    window_s: float,
    hop_s: float,
    max_missing: float,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Choice, PrevalenceSets]:
    """Cut every recording as a calm day and as a stress-heavy session, run the nested
    evaluation on ``subject_folds`` and the procedure once more on every person (the model to
    export). ``normal``: the recordings' windows as :func:`make_windows` cut them (unsubset).

    Returns the report section, the final :class:`Choice` and the sets it was made on.
    """
    from affectstream.model.prevalence import calm_day, stress_heavy
    from affectstream.model.windows import make_windows

    say = progress or (lambda _m: None)
    cut: dict[str, Any] = {"window_s": window_s, "hop_s": hop_s, "max_missing": max_missing}
    say("prevalence re-cuts: calm day and stress-heavy session of every recording")
    calm = make_windows(
        [calm_day(r, [rest_label]) for r in recordings], preprocess, classes=normal.classes, **cut
    )
    heavy = make_windows(
        [stress_heavy(r, [rest_label]) for r in recordings],
        preprocess,
        classes=normal.classes,
        **cut,
    )
    sets = PrevalenceSets.build(normal, calm, heavy, normal.classes.index(rest_label), rules)
    candidates = [Candidate(r, c) for r in rules for c in c_values]
    say(f"nested selection: {len(candidates)} candidates x {len(subject_folds)} outer folds")
    res = nested_evaluation(
        sets, subject_folds, candidates, false_alarm_rate, seed, permutations, say
    )
    final = choose(sets, np.unique(sets.normal.subject), candidates, false_alarm_rate, seed)
    say(f"nested selection on every person: {final.candidate.name}")
    res["final"] = {
        "candidate": final.candidate.name,
        "rule": final.candidate.rule.to_dict(),
        "c": final.candidate.c,
        "log_offset": final.log_offset,
        "rest_class": rest_label,
        "inner_balanced_accuracy": final.inner_scores,
    }
    res["n_candidates"] = len(candidates)
    res["windows"] = {
        "normal": len(sets.normal),
        "calm_day": len(sets.calm),
        "stress_heavy": len(sets.heavy),
    }
    return res, final, sets
