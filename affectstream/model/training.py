"""``affectstream train``: windows through the serving DSP, subject-wise folds, every model on
the same folds, an honest report, and the best CNN saved for export."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.data import Recording, load_recordings
from affectstream.data.groups import assign_subjects
from affectstream.dsp.calibration import (
    DEFAULT_BASELINE_S,
    centre_outputs,
    check_rule,
    warmup_s,
)
from affectstream.dsp.heart_rate import HEART_RATE_SOURCES
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.model import baselines
from affectstream.model.calibrated import (
    calibrated_features,
    calibrated_inputs,
    feature_inputs,
    fit_global,
    warm_rows,
)
from affectstream.model.feature_calibration import FeatureRule
from affectstream.model.folds import (
    FoldPlan,
    SplitError,
    leaky_folds,
    make_folds,  # noqa: F401  (re-exported: its home was here)
    plan_window_folds,
)
from affectstream.model.held_out_models import (
    FEATURE_MODELS,
    CompactCnn,
    Fold,
    FoldData,
    ResearcherCnn,
    make_model,
    train_compact_cnn,
)
from affectstream.model.hindsight import hindsight_figures
from affectstream.model.learning_curve import Serving, learning_curve
from affectstream.model.metrics import permutation_pvalue, recall_by_age, summarize
from affectstream.model.nested import Choice, PrevalenceSets, nested_stage
from affectstream.model.report import dataset_summary
from affectstream.model.stages import Paced, estimate, fit_seconds, run_stage, too_small
from affectstream.model.train_config import TrainConfig
from affectstream.model.windows import WindowSet, make_windows

Progress = Callable[[str], None]

#: Model rate chosen for the modalities present (Hz): fast enough for each preset's band.
DEFAULT_RATES = (
    ("ecg", 100.0),
    ("bvp", 32.0),
    ("resp", 8.0),
    ("eda", 4.0),
    ("temp", 4.0),
    ("hr", 4.0),
    ("ibi", 4.0),
)

#: A device's own heart rate or beat intervals: used when the recordings share no pulse wave or
#: ECG (an E4 folder's ``HR.csv`` beside its ``BVP.csv`` is left out; beats come from the BVP).
INTERVAL_MODALITIES = ("hr", "ibi")


#: The held-out predictions of every window, beside the report.
PREDICTIONS_FILE = "predictions.csv"

#: How many training windows go into the saved representative set (int8 calibration).
N_REPRESENTATIVE = 300

#: Label names taken as rest periods (case-insensitive) when ``rest`` calibration names none.
REST_LABEL_NAMES = (
    "rest",
    "resting",
    "calm",
    "calmness",
    "relax",
    "relaxed",
    "relaxation",
    "baseline",
    "neutral",
    "non-stress",
    "nonstress",
    "non_stress",
    "no-stress",
    "no stress",
)


def rest_labels(recordings: Sequence[Recording]) -> list[str]:
    """The recordings' labels that name rest periods (see :data:`REST_LABEL_NAMES`)."""
    found = {iv.label for r in recordings for iv in r.labels}
    return sorted(x for x in found if x.strip().lower() in REST_LABEL_NAMES)


def resolve_rule(
    calibration: dict[str, Any] | None, recordings: Sequence[Recording], long_enough: bool
) -> dict[str, Any]:
    """The comparison table's calibration rule: the configured one (a ``rest`` rule without
    labels takes the rest-like labels found; ``centre_output`` is off unless set) or
    :func:`default_calibration`."""
    rule = dict(calibration or default_calibration(long_enough))
    if rule.get("kind") == "rest" and not rule.get("labels"):
        found = rest_labels(recordings)
        if not found:
            raise ValueError(
                "calibration kind 'rest' needs the labels of the rest periods and none of the "
                f"labels found looks like one ({', '.join(REST_LABEL_NAMES[:4])}, ...); set "
                "calibration.labels in the training config"
            )
        rule["labels"] = found
    return check_rule(rule)


def load_labelled(data: str | Path, options: dict[str, Any]) -> list[Recording]:
    """The labelled recordings at ``data`` with the ``[data]`` options of a training config
    (reader options, ``subjects``, ``exclude_subjects``)."""
    recs = load_recordings(
        data,
        fmt=options.get("format"),
        record_length=options.get("record_length"),
        fs=options.get("fs"),
        label_column=options.get("label_column"),
        subject_column=options.get("subject_column"),
        subjects=options.get("subjects"),
        subject_pattern=options.get("subject_pattern"),
        marker_map=options.get("marker_map"),
    )
    recs = assign_subjects(
        recs,
        records_per_subject=options.get("records_per_subject"),
        groups_file=options.get("groups_file"),
    )
    excluded = set(options.get("exclude_subjects") or [])
    return [r for r in recs if r.labels and (r.subject or r.name) not in excluded]


def default_preprocess(recordings: Sequence[Recording]) -> dict[str, Any]:
    """A Preprocessor config for the modalities every recording has, with preset filters and a
    heart-rate channel derived from the pulse wave (BVP) or a single ECG lead; a device's own
    heart rate (``hr``) or beat intervals (``ibi``) only where there is neither."""
    common = set.intersection(*(set(r.signals) for r in recordings))
    mods = [m for m, _ in DEFAULT_RATES if m in common]
    if set(mods) & set(HEART_RATE_SOURCES):
        mods = [m for m in mods if m not in INTERVAL_MODALITIES]
    if not mods:
        raise ValueError(
            f"the recordings share no usable modality (they share {sorted(common)}); training "
            "needs ECG, BVP, EDA, TEMP or RESP"
        )
    first = recordings[0]
    rate = max(r for m, r in DEFAULT_RATES if m in mods)
    return {
        "model_rate": rate,
        "modalities": [
            {"name": m, "fs": first.signals[m].fs, "channels": list(first.signals[m].channels)}
            for m in mods
        ],
        # the heart rate as a slow channel for the CNN (window features find beats themselves)
        "derived": [
            {"name": "heart_rate", "source": m}
            for m in mods
            if m in HEART_RATE_SOURCES and len(first.signals[m].channels) == 1
        ],
    }


def default_calibration(ws_sessions_long_enough: bool) -> dict[str, Any]:
    """The comparison table's rule: running calibration (the person's statistics so far,
    after a 5-minute warm-up) when sessions are long enough for it, else the person's own data
    (offline only). Output centring is off: it fails the calm-day check (it puts the
    threshold at the person's own mean output); ``centre_output = true`` turns it on."""
    if ws_sessions_long_enough:
        return {"kind": "running", "min_s": DEFAULT_BASELINE_S, "centre_output": False}
    return {"kind": "subject"}


def run_nested(
    recs: Sequence[Recording],
    preprocess: dict[str, Any],
    ws_all: WindowSet,
    ws: WindowSet,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    cfg: TrainConfig,
    say: Progress,
) -> tuple[dict[str, Any] | None, Choice | None, PrevalenceSets | None]:
    """The nested evaluation of the exportable feature model's procedure with its prevalence
    checks (:func:`~affectstream.model.nested.nested_stage`) on the outer ``folds`` of ``ws``,
    or a report entry saying why it was skipped."""
    if not cfg.nested or "logreg" not in cfg.models:
        return None, None, None
    rest = [c for c in rest_labels(recs) if c in ws.classes]
    rules = [FeatureRule.from_dict(r) for r in cfg.feature_rules]
    need = max(r.min_s for r in rules) + cfg.window_s
    why = None
    if len(rest) != 1:
        why = (
            f"it needs exactly one rest-like class (found {rest or 'none'} among {ws.classes}; "
            f"rest-like names: {', '.join(REST_LABEL_NAMES[:6])}, ...)"
        )
    elif min(r.duration for r in recs) < need:
        why = f"it needs sessions of at least {need:g} s (warm-up plus one window)"
    if why is not None:
        say(f"nested selection skipped: {why}")
        return {"skipped": why}, None, None
    subject_folds = [(np.unique(ws.subject[tr]), np.unique(ws.subject[te])) for tr, te in folds]
    res, final, sets = nested_stage(
        recs,
        preprocess,
        ws_all,
        subject_folds,
        rest[0],
        rules=rules,
        c_values=cfg.nested_c,
        false_alarm_rate=cfg.false_alarm_rate,
        seed=cfg.seed,
        permutations=cfg.permutations,
        window_s=cfg.window_s,
        hop_s=cfg.hop_s,
        max_missing=cfg.max_missing,
        progress=say,
    )
    res.pop("held_out")
    return res, final, sets


def context_rows(ws: WindowSet, test: np.ndarray) -> np.ndarray:
    """Indices into ``ws.context`` of the unlabelled windows of the sessions in ``test``."""
    if ws.context is None:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.isin(ws.context.session, np.unique(ws.session[test])))


def centre_held_out(ws: WindowSet, probs: np.ndarray, context_probs: np.ndarray) -> np.ndarray:
    """Held-out class probabilities ``(len(ws), n_classes)`` after output centring
    (:func:`~affectstream.dsp.calibration.centre_outputs`), each person's mean taken over their
    labelled and context windows in time order, as the live monitor takes it over every window
    it predicts. ``context_probs``: ``(len(ws.context), n_classes)``."""
    ctx = ws.context_windows()
    return centre_rows(
        ws, np.arange(len(ws)), np.arange(len(ctx)), np.concatenate([probs, context_probs])
    )


def centre_rows(
    ws: WindowSet, rows: np.ndarray, ctx_rows: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """:func:`centre_held_out` for some sessions' windows: ``probs`` ``(rows.size +
    ctx_rows.size, n_classes)`` of the labelled windows ``rows`` then the context windows
    ``ctx_rows`` (whole sessions, e.g. one fold's test people and :func:`context_rows`);
    returns the labelled rows' centred probabilities ``(rows.size, n_classes)``."""
    ctx = ws.context_windows()
    both = centre_outputs(
        probs,
        np.concatenate([ws.session[rows], ctx.session[ctx_rows]]),
        np.concatenate([ws.t_end[rows], ctx.t_end[ctx_rows]]),
    )
    return both[: rows.size]


def ablation_rules(ws: WindowSet, rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The calibrations the ablation compares: none, each person rule that can calibrate every
    one of the windows (short records hold no baseline or warm-up; ``rest`` needs rest labels),
    and the training's own rule."""
    rules: list[dict[str, Any]] = [{"kind": "none"}]
    base_s = float(rule.get("baseline_s", DEFAULT_BASELINE_S))  # what make_windows was given
    has_baseline = all(st.baseline_mean is not None for st in ws.sessions.values())
    if has_baseline:
        rules.append({"kind": "baseline", "baseline_s": base_s})
    running = {"kind": "running", "min_s": DEFAULT_BASELINE_S}
    if warm_rows(ws, running).size == len(ws):  # every window after the warm-up
        rules.append(running)
    rest = {"kind": "rest", "labels": ws.rest_labels, "baseline_s": base_s}
    if has_baseline and ws.rest_labels and warm_rows(ws, rest).size == len(ws):
        rules.append(rest)
    rules.append({"kind": "subject"})
    out: list[dict[str, Any]] = []
    for given in [*rules, rule]:
        r = check_rule(given)
        if r not in out:
            out.append(r)
    return out


def run_ablation(
    ws: WindowSet,
    rule: dict[str, Any],
    n_splits: int,
    seed: int,
    subj_folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[dict]:
    """Feature models under every calibration, split by subject and (leaky) by window.

    Shows how much a leaky split and each calibration change the score. ``subject`` uses the
    test person's whole session (transductive), so it is an upper reference, not a live figure.
    ``subj_folds``: the training's own folds (default: :func:`plan_window_folds`'s); the leaky
    split is :func:`~affectstream.model.folds.leaky_folds` (left out when a class has fewer
    than 2 windows).
    """
    out = []
    k = len(ws.classes)
    if subj_folds is None:
        subj_folds = plan_window_folds(ws, "groupkfold", n_splits, seed).folds
    rec_folds = leaky_folds(ws.y, min(n_splits, 5), seed)
    ctx = ws.context_windows()
    own = "subject-wise" if ws.has_subject_ids else "by recording"
    splits = ((own, subj_folds), ("record-wise (leaky)", rec_folds))
    for split_name, folds in [(n, f) for n, f in splits if f]:
        for cal in ablation_rules(ws, rule):
            f_all = calibrated_features(ws, np.arange(len(ws)), cal)
            f_ctx = calibrated_features(ctx, np.arange(len(ctx)), cal)
            for name, make in FEATURE_MODELS.items():
                prob = np.zeros((len(ws), k))
                prob_ctx = np.zeros((len(ctx), k))
                for tr, te in folds:
                    # a leaky fold's context rows are predicted by every fold holding part of
                    # the session; the last one stands, which only matters for the leaky rows
                    cte = context_rows(ws, te)
                    p = baselines.fit_predict_features(
                        make(seed), f_all[tr], ws.y[tr], np.concatenate([f_all[te], f_ctx[cte]]), k
                    )
                    prob[te], prob_ctx[cte] = p[: te.size], p[te.size :]
                if cal["centre_output"]:
                    prob = centre_held_out(ws, prob, prob_ctx)
                s = summarize(ws.y, prob.argmax(1), ws.subject, ws.classes)
                out.append(
                    {
                        "split": split_name,
                        "calibration": cal["kind"]
                        + (", output centred" if cal["centre_output"] else ""),
                        "model": name,
                        "balanced_accuracy": s["balanced_accuracy"],
                        "macro_f1": s["macro_f1"],
                    }
                )
    return out


def collect_warnings(ws: WindowSet) -> list[str]:
    """Everything about the data that should make a reader cautious."""
    w = []
    counts = ws.counts()
    lo, hi = min(counts.values()), max(counts.values())
    if lo == 0 or hi / max(lo, 1) > 1.5:
        w.append(
            f"class imbalance: windows per class {counts}; read balanced accuracy and "
            "macro-F1, not accuracy (models use balanced class weights)"
        )
    n_subj = np.unique(ws.subject).size
    if not ws.has_subject_ids:
        w.append(
            "no subject ids: the split is by RECORDING, so one person's records can sit in "
            "train and test; figures overstate performance on new people"
        )
    elif n_subj < 10:
        w.append(
            f"only {n_subj} subjects: the interval across subjects is wide and the figures "
            "may not carry over to new people"
        )
    if ws.mixed_label_windows:
        w.append(
            f"{ws.mixed_label_windows} windows straddle a label change inside a recording and "
            "were left out of training and scoring (a window is labelled only when one label "
            "covers it whole; output centring still counts their predictions, as live)"
        )
    if ws.dropped_missing:
        w.append(f"{ws.dropped_missing} windows had too much missing data and were left out")
    if ws.dropped_poor_quality:
        w.append(
            f"{ws.dropped_poor_quality} windows had a flat or out-of-range channel and were left "
            "out (the monitor abstains on them)"
        )
    return w


@dataclass
class PreparedData:
    """The labelled recordings as training sees them: the Preprocessor config, the comparison
    table's calibration rule, every window (``ws_all``, for the nested stage's re-cuts) and the
    windows after the warm-up (``ws``, ``ctx`` their context), and what to warn about."""

    recs: list[Recording]
    preprocess: dict[str, Any]
    rule: dict[str, Any]
    ws_all: WindowSet
    ws: WindowSet
    ctx: WindowSet
    warnings: list[str]


def prepare_windows(data: str | Path, cfg: TrainConfig, say: Progress) -> PreparedData:
    """Read the labelled recordings, choose the Preprocessor and the rule, cut the windows
    through the serving DSP, keep those after the warm-up; raise when nothing is left."""
    say(f"reading {data}")
    recs = load_labelled(data, cfg.data)
    if not recs:
        raise ValueError(f"{data}: no recording carries labels; training needs labels")
    if cfg.max_subjects:
        keep = sorted({r.subject or r.name for r in recs})[: cfg.max_subjects]
        recs = [r for r in recs if (r.subject or r.name) in keep]
    preprocess = Preprocessor(cfg.preprocess or default_preprocess(recs)).config
    long_enough = min(r.duration for r in recs) >= DEFAULT_BASELINE_S + cfg.window_s
    no_person = not long_enough and any(r.subject is None for r in recs)
    # the default for short records calibrates to the person's other records; without subject
    # ids each record is its own "person" and would be z-scored against itself (all zeros)
    rule = resolve_rule(
        cfg.calibration or ({"kind": "none"} if no_person else None), recs, long_enough
    )
    say(f"data: {len(recs)} labelled recordings from {data}")
    ws = make_windows(
        recs,
        preprocess,
        window_s=cfg.window_s,
        hop_s=cfg.hop_s,
        max_missing=cfg.max_missing,
        baseline_s=float(rule.get("baseline_s", DEFAULT_BASELINE_S)),
        rest_labels=(rule["labels"] if rule["kind"] == "rest" else rest_labels(recs) or None),
        progress=Paced(say, "windows through the serving DSP, recordings", len(recs)),
    )
    ws_all = ws
    warnings: list[str] = []
    if no_person and not cfg.calibration:
        warnings.append(
            "no per-person calibration: the records are too short for a running baseline and "
            "carry no subject ids, so a person's other records cannot calibrate them "
            "(calibration 'none'); supply subject ids to calibrate to the person"
        )
    if warmup_s(rule) > 0:  # the monitor predicts only once the baseline / warm-up is over
        warm = warm_rows(ws, rule)
        key = "min_s" if rule["kind"] == "running" else "baseline_s"
        if warm.size == 0:
            raise ValueError(
                f"no labelled window ends after the {warmup_s(rule):g} s warm-up of "
                f"{rule['kind']} calibration; lower calibration.{key} or use kind 'subject'"
            )
        if warm.size < len(ws):
            warnings.append(
                f"{len(ws) - warm.size} labelled windows end within the first "
                f"{warmup_s(rule):g} s of their session, which only warm up the {rule['kind']} "
                "calibration; they are left out"
            )
        ws = ws.subset(warm)
        if ws.context is not None:  # the monitor predicts no window inside the warm-up
            ws = dataclasses.replace(ws, context=ws.context.subset(warm_rows(ws.context, rule)))
    ctx = ws.context_windows()
    warnings = collect_warnings(ws) + warnings
    say(
        f"windows: {len(ws)} of {cfg.window_s:g} s every {cfg.hop_s:g} s, "
        f"{np.unique(ws.subject).size} {'subjects' if ws.has_subject_ids else 'recordings'}, "
        f"per class {ws.counts()}"
    )
    for w in warnings:
        say(f"WARNING: {w}")
    return PreparedData(recs, preprocess, rule, ws_all, ws, ctx, warnings)


@dataclass
class HeldOutPredictions:
    """Every model's held-out class probabilities on the outer folds: ``probs`` (as the model
    gave them, then as served once :func:`score_models` has run), ``ctx_probs`` (the context
    windows), ``served`` (output centred where the rule says so), seconds per model, the
    networks' curves and sizes, and the calibrated features the feature models read."""

    probs: dict[str, np.ndarray]
    ctx_probs: dict[str, np.ndarray]
    served: dict[str, np.ndarray]
    centred: list[str]
    times: dict[str, float]
    curves: dict[str, list[dict[str, list[float]]]]
    networks: dict[str, dict[str, Any]]
    features: np.ndarray | None
    context_features: np.ndarray | None


def cross_validate(
    prep: PreparedData,
    cfg: TrainConfig,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    by: str,
    say: Progress,
) -> HeldOutPredictions:
    """Every configured model (:func:`~affectstream.model.held_out_models.make_model`) fitted
    on each fold's training people and asked about its test people."""
    ws, ctx, rule, preprocess = prep.ws, prep.ctx, prep.rule, prep.preprocess
    k = len(ws.classes)
    n_recorded = len(ws.channel_names) - len(preprocess.get("derived") or [])
    models = [m for m in cfg.models]
    probs = {m: np.zeros((len(ws), k)) for m in models}
    ctx_probs = {m: np.zeros((len(ctx), k)) for m in models}
    # models whose output is centred per person (the majority's constant answer is not)
    centred = [m for m in models if m != "majority"] if rule["centre_output"] else []
    served = {m: np.zeros((len(ws), k)) for m in models}
    times = dict.fromkeys(models, 0.0)
    held_out = {m: make_model(m) for m in models}
    t_folds = time.perf_counter()
    all_idx = np.arange(len(ws))
    f_cal = f_ctx = None
    if any(m in models for m in FEATURE_MODELS):
        f_cal = calibrated_features(ws, all_idx, rule)
        f_ctx = calibrated_features(ctx, np.arange(len(ctx)), rule)
    fold_data = FoldData(ws, ctx, rule, cfg, n_recorded, f_cal, f_ctx)
    for fi, (tr, te) in enumerate(folds):
        msg = []
        cte = context_rows(ws, te)  # predicted too, for output centring only
        fold = Fold(fi, tr, te, cte)
        for m, model in held_out.items():
            t0 = time.perf_counter()
            p = model.fit_predict(fold_data, fold)
            times[m] += time.perf_counter() - t0
            probs[m][te], ctx_probs[m][cte] = p[: te.size], p[te.size :]
            # as served: the fold holds its test people's whole sessions, so centring them here
            # is centring them for good
            served[m][te] = centre_rows(ws, te, cte, p) if m in centred else p[: te.size]
            pred = served[m][te].argmax(1)
            ba = summarize(ws.y[te], pred, ws.subject[te], ws.classes)["balanced_accuracy"]
            msg.append(f"{m} {ba:.2f}")
        n_test = np.unique(ws.subject[te]).size
        left = (time.perf_counter() - t_folds) / (fi + 1) * (len(folds) - fi - 1)
        say(
            f"fold {fi + 1}/{len(folds)} ({n_test} test {by}s): "
            + " | ".join(msg)
            + (f" (about {left:.0f} s left)" if fi + 1 < len(folds) else "")
        )
    curves: dict[str, list[dict[str, list[float]]]] = {"cnn": [], "researcher_cnn": []}
    networks: dict[str, dict[str, Any]] = {}  # parameters and training windows per network
    for m, model in held_out.items():
        if isinstance(model, CompactCnn | ResearcherCnn):
            curves[m], networks[m] = model.curves, model.network
    return HeldOutPredictions(
        probs, ctx_probs, served, centred, times, curves, networks, f_cal, f_ctx
    )


def score_models(
    prep: PreparedData, held: HeldOutPredictions, cfg: TrainConfig
) -> tuple[dict[str, Any], str, dict[str, np.ndarray], str]:
    """Each model's figures as served (and before output centring where it was centred), its
    p-value and hindsight bounds; returns the results, the best model, the probabilities before
    centring and how the permutation test permuted."""
    ws, ctx = prep.ws, prep.ctx
    k = len(ws.classes)
    models, probs, ctx_probs = list(held.probs), held.probs, held.ctx_probs
    centred, served, times = held.centred, held.served, held.times
    uncentred: dict[str, dict[str, float]] = {}
    raw_probs: dict[str, np.ndarray] = {}
    for m in centred:  # as the monitor serves them: each person's output centred
        s = summarize(ws.y, probs[m].argmax(1), ws.subject, ws.classes)
        uncentred[m] = {key: s[key] for key in ("balanced_accuracy", "macro_f1")}
        raw_probs[m], probs[m] = probs[m], served[m]
        c = summarize(ws.y, probs[m].argmax(1), ws.subject, ws.classes)["per_subject"]
        gain = [
            c[p]["balanced_accuracy"] - u["balanced_accuracy"] for p, u in s["per_subject"].items()
        ]
        # centring moves people both ways: how many it helps and costs (> 0.01)
        uncentred[m]["subjects_better"] = int(sum(g > 0.01 for g in gain))
        uncentred[m]["subjects_worse"] = int(sum(g < -0.01 for g in gain))
    preds = {m: probs[m].argmax(1) for m in models}
    results: dict[str, Any] = {}
    permutation_how = ""
    for m in models:
        s = summarize(ws.y, preds[m], ws.subject, ws.classes)
        s["p_value"], permutation_how = permutation_pvalue(
            ws.y, preds[m], ws.subject, k, cfg.permutations, cfg.seed
        )
        s["wall_time_s"] = times[m]
        if m in uncentred:
            s["uncentred"] = uncentred[m]
        if m != "majority":  # what per-person calibration could reach knowing more than live
            s["hindsight"] = hindsight_figures(
                ws.y,
                raw_probs.get(m, probs[m]),
                ws.subject,
                ctx_probs[m],
                ctx.subject,
                ws.classes,
            )
        results[m] = s
    best = max(results, key=lambda m: results[m]["balanced_accuracy"])
    if ws.label_age is not None:  # when in a labelled period the best model errs
        results[best]["by_label_age"] = recall_by_age(ws.y, preds[best], ws.label_age, ws.classes)
    return results, best, raw_probs, permutation_how


def comparison_stages(
    prep: PreparedData,
    held: HeldOutPredictions,
    cfg: TrainConfig,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    by: str,
    small: str | None,
    errors: list[dict[str, str]],
    skipped: list[str],
    say: Progress,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ablation (split and calibration compared) and the learning curve of the feature
    models, each a stage that may fail or be skipped (``small``: why the data is too small)
    without losing the report; returns both (empty when not run)."""
    ws, rule, k = prep.ws, prep.rule, len(prep.ws.classes)
    f_cal, f_ctx, times = held.features, held.context_features, held.times
    models = list(held.probs)
    feature_models = {m: FEATURE_MODELS[m] for m in models if m in FEATURE_MODELS}
    per_fit = fit_seconds(times, len(folds), feature_models)
    ablation: list[dict] = []
    if cfg.ablation and small:
        skipped.append(f"ablation (split and calibration compared) skipped: {small}")
    elif cfg.ablation:
        n_fits = 2 * len(ablation_rules(ws, rule)) * len(FEATURE_MODELS) * len(folds)
        say(f"ablation: {n_fits} feature-model fits, {estimate(n_fits, per_fit)}")
        ablation = run_stage(
            "ablation",
            lambda: run_ablation(ws, rule, cfg.n_splits, cfg.seed, folds),
            errors,
            say,
            [],
        )
    curve: list[dict[str, Any]] = []
    if cfg.learning_curve and feature_models and small:
        skipped.append(f"learning curve skipped: {small}")
    elif cfg.learning_curve and feature_models:
        n_fits = 5 * 3 * len(folds) * len(feature_models)
        say(
            f"learning curve: feature models on fewer training {by}s, up to {n_fits} fits, "
            f"{estimate(n_fits, per_fit)}"
        )
        if f_cal is None or f_ctx is None:
            raise ValueError("the learning curve needs the windows' calibrated features")
        serving = (
            Serving(f_ctx, [context_rows(ws, te) for _, te in folds], partial(centre_held_out, ws))
            if rule["centre_output"]
            else None
        )
        curve = run_stage(
            "learning curve",
            lambda: learning_curve(
                f_cal, ws.y, ws.subject, k, folds, feature_models, cfg.seed, serving=serving
            ),
            errors,
            say,
            [],
        )
    return ablation, curve


def save_exports(
    prep: PreparedData,
    held: HeldOutPredictions,
    cfg: TrainConfig,
    out: Path,
    report: dict[str, Any],
    nested_final: tuple[dict[str, Any] | None, Choice | None, PrevalenceSets | None],
    by: str,
    n_folds: int,
    errors: list[dict[str, str]],
    say: Progress,
) -> None:
    """Fit and save what ``affectstream export`` takes (the nested procedure's logistic
    regression, else the table's; the CNN) and ``model_meta.json``, each a stage that may fail
    without losing the report; notes in ``report`` what was saved or why not."""
    ws, rule, preprocess = prep.ws, prep.rule, prep.preprocess
    models, times, curves = list(held.probs), held.times, held.curves
    nested, final_choice, nested_sets = nested_final
    exportable: dict[str, dict[str, Any]] = {}
    if final_choice is not None and nested_sets is not None and nested is not None:
        say("final logistic regression: the nested procedure's choice on every person, for export")
        saved = run_stage(
            "export (logistic regression, nested procedure)",
            lambda: _save_nested_logreg(nested_sets, final_choice, nested, cfg, out),
            errors,
            say,
            None,
        )
        if saved:
            exportable["logreg"] = saved
    elif "logreg" in models and rule["kind"] == "running":
        say("final logistic regression: fitting on all subjects for export")
        saved = run_stage(
            "export (logistic regression)",
            lambda: _save_final_logreg(ws, rule, cfg, out),
            errors,
            say,
            None,
        )
        if saved:
            exportable["logreg"] = saved
    if rule["kind"] == "rest":
        say("no model saved for export: the monitor does not take rest-period markers yet")
        report["not_exported"] = (
            "rest calibration needs the person's rest periods marked as they end, which the "
            "live monitor does not take yet; train with 'running' or 'baseline' to export"
        )
    elif "cnn" in models:
        say(f"final CNN: training on all {by}s for export, {estimate(1, times['cnn'] / n_folds)}")
        saved = run_stage(
            "export (CNN)",
            lambda: _save_final_cnn(ws, rule, cfg, out, curves["cnn"]),
            errors,
            say,
            None,
        )
        if saved:
            exportable["cnn"] = saved
    if exportable:
        run_stage(
            "export (model_meta.json)",
            lambda: _save_model_meta(ws, rule, preprocess, cfg, out, report, exportable),
            errors,
            say,
            None,
        )
        report["exportable"] = {m: e["cv_balanced_accuracy"] for m, e in exportable.items()}


def assemble_report(
    data: str,
    prep: PreparedData,
    cfg: TrainConfig,
    plan: FoldPlan,
    scored: tuple[dict[str, Any], str, str],
    stages: dict[str, Any],
    networks: dict[str, dict[str, Any]],
    skipped: list[str],
    errors: list[dict[str, str]],
) -> dict[str, Any]:
    """The report as a JSON-ready dict: the data, the split (``plan``), the rule, every
    model's figures, the nested headline and the comparison stages (``stages``), what was
    skipped or failed."""
    ws, recs, rule, warnings = prep.ws, prep.recs, prep.rule, prep.warnings
    results, best, permutation_how = scored
    folds, k = plan.folds, len(ws.classes)
    return {
        "data": data,
        "dataset": dataset_summary(ws, len(recs)),
        "split": {
            "kind": cfg.split,
            "method": plan.kind,
            "n_folds": len(folds),
            "requested_folds": plan.requested,
            "by": plan.by,
            "notes": plan.notes,
        },
        "calibration": rule,
        "chance_level": 1.0 / k,
        "models": results,
        "best_model": best,
        "best_p_value": results[best]["p_value"],
        "permutation_test": f"{permutation_how} against fixed predictions",
        **stages,
        "warnings": warnings,
        "networks": networks,
        "skipped": skipped,
        "errors": errors,
        "config": cfg.as_dict(),
    }


def run_training(
    data: str | Path,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    progress: Progress | None = print,
) -> dict[str, Any]:
    """Train and evaluate every configured model on subject-wise folds; write the report.

    Returns the report as a dict (also written to ``out_dir/report.json``).
    """
    from affectstream.model.report import write_predictions, write_refusal, write_report

    cfg = config or TrainConfig()
    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prep = prepare_windows(data, cfg, say)
    recs, preprocess = prep.recs, prep.preprocess
    ws_all, ws, warnings = prep.ws_all, prep.ws, prep.warnings
    try:
        plan = plan_window_folds(ws, cfg.split, cfg.n_splits, cfg.seed)
    except SplitError as exc:  # said in the report too, then raised
        write_refusal(out, str(data), len(recs), ws, warnings, str(exc))
        say(f"split refused: {exc}; report: {out / 'report.md'}")
        raise
    folds = plan.folds
    say(f"split: {plan.kind}, {plan.n_folds} folds by {plan.by}")
    for note in plan.notes:
        say(f"split: {note}")
    errors: list[dict[str, str]] = []
    skipped: list[str] = []
    k = len(ws.classes)
    held = cross_validate(prep, cfg, folds, plan.by, say)
    probs, curves, networks = held.probs, held.curves, held.networks
    results, best, raw_probs, permutation_how = score_models(prep, held, cfg)
    small = too_small(ws.counts())
    nothing: tuple[dict[str, Any] | None, Choice | None, PrevalenceSets | None] = (None, None, None)
    nested, final_choice, nested_sets = run_stage(
        "nested selection",
        lambda: run_nested(recs, preprocess, ws_all, ws, folds, cfg, say),
        errors,
        say,
        nothing,
    )
    ablation, curve = comparison_stages(
        prep, held, cfg, folds, plan.by, small, errors, skipped, say
    )
    report = assemble_report(
        str(data),
        prep,
        cfg,
        plan,
        (results, best, permutation_how),
        {"nested": nested, "ablation": ablation, "learning_curve": curve},
        networks,
        skipped,
        errors,
    )
    nested_final = (nested, final_choice, nested_sets)
    save_exports(prep, held, cfg, out, report, nested_final, plan.by, len(folds), errors, say)

    def predictions_csv() -> bool:
        write_predictions(out / PREDICTIONS_FILE, prediction_columns(ws, folds, probs, raw_probs))
        return True

    if run_stage("predictions.csv", predictions_csv, errors, say, False):
        report["predictions"] = PREDICTIONS_FILE
    report["wall_time_s"] = time.perf_counter() - t_start
    write_report(report, curves, out)
    say(
        f"report: {out / 'report.md'} (best: {best}, balanced accuracy "
        f"{results[best]['balanced_accuracy']:.3f}, chance {1.0 / k:.3f}, "
        f"p = {results[best]['p_value']:.3g})"
    )
    for e in report["errors"]:
        say(f"FAILED: {e['stage']}: {e['error']}")
    return report


def prediction_columns(
    ws: WindowSet,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    probs: dict[str, np.ndarray],
    raw: dict[str, np.ndarray] | None = None,
) -> dict[str, list[Any]]:
    """The held-out predictions as table columns, one row per window: where the window sits
    (subject, session, start and end in s since the session's first frame), its fold (1-based),
    true label and seconds into the labelled period (empty when unknown), then per model the
    predicted class (``MODEL_pred``) and each class's probability (``MODEL_p_CLASS``), as served.

    ``probs`` maps model names to held-out class probabilities, shape ``(n_windows, n_classes)``;
    ``raw``, where output centring served them, the model's own before it
    (``MODEL_raw_p_CLASS``).
    """
    fold = np.zeros(len(ws), dtype=np.int64)
    for fi, (_tr, te) in enumerate(folds):
        fold[te] = fi + 1
    age = ws.label_age if ws.label_age is not None else np.full(len(ws), np.nan)
    cols: dict[str, list[Any]] = {
        "subject": [str(s) for s in ws.subject],
        "session": [str(s) for s in ws.session],
        "t_start_s": [float(t - ws.window_s) for t in ws.t_end],
        "t_end_s": [float(t) for t in ws.t_end],
        "fold": fold.tolist(),
        "label": [ws.classes[i] for i in ws.y],
        "label_age_s": ["" if np.isnan(a) else float(a) for a in age],
    }
    for m, p in probs.items():
        cols[f"{m}_pred"] = [ws.classes[i] for i in p.argmax(1)]
        for ci, c in enumerate(ws.classes):
            cols[f"{m}_p_{c}"] = [float(v) for v in p[:, ci]]
        if raw and m in raw:
            for ci, c in enumerate(ws.classes):
                cols[f"{m}_raw_p_{c}"] = [float(v) for v in raw[m][:, ci]]
    return cols


def _save_representative(x: np.ndarray, seed: int, path: Path) -> None:
    """Save a random :data:`N_REPRESENTATIVE` of the model inputs ``x`` (float32): the windows
    export calibrates the int8 conversion on."""
    rng = np.random.default_rng(seed)
    rep = rng.choice(len(x), size=min(N_REPRESENTATIVE, len(x)), replace=False)
    np.save(path, x[rep].astype(np.float32))


def _save_final_logreg(
    ws: WindowSet, rule: dict[str, Any], cfg: TrainConfig, out: Path
) -> dict[str, Any]:
    """Fit the logistic regression on every subject's running-calibrated features; save its
    parameters (``logreg.json``) and representative inputs for export."""
    f = calibrated_features(ws, np.arange(len(ws)), rule)
    model = baselines.logistic_regression(cfg.seed).fit(f, ws.y)
    params = baselines.logreg_params(model, ws.feature_names, ws.classes)
    (out / "logreg.json").write_text(json.dumps(params, indent=1))
    x = feature_inputs(ws, np.arange(len(ws)), rule, np.asarray(params["fill"]))
    _save_representative(x, cfg.seed, out / "representative_features.npy")
    return {
        "file": "logreg.json",
        "input": "features",
        "representative": "representative_features.npy",
    }


def _save_nested_logreg(
    sets: PrevalenceSets, choice: Choice, nested: dict[str, Any], cfg: TrainConfig, out: Path
) -> dict[str, Any]:
    """Save the logistic regression the nested procedure chose on every person, with its
    feature calibration and operating point (the bundle's ``calibration``), and representative
    inputs for export."""
    ws = sets.normal
    params = baselines.logreg_params(choice.model, ws.feature_names, ws.classes)
    (out / "logreg.json").write_text(json.dumps(params, indent=1))
    final = nested["final"]
    calibration = {
        **choice.candidate.rule.to_dict(),
        "centre_output": False,
        "output": {
            "kind": "offset",
            "class": final["rest_class"],
            "log_offset": choice.log_offset,
            "target_false_alarm_rate": cfg.false_alarm_rate,
        },
    }
    x = feature_inputs(ws, np.arange(len(ws)), calibration, np.asarray(params["fill"]))
    _save_representative(x, cfg.seed, out / "representative_features.npy")
    figures = nested["procedure"]
    return {
        "file": "logreg.json",
        "input": "features",
        "representative": "representative_features.npy",
        "calibration": calibration,
        "nested": True,
        "nested_balanced_accuracy": figures["balanced_accuracy"],
        "calm_day_false_alarm_rate": figures["calm_day"]["false_alarm_rate"],
        "stress_heavy_sensitivity": figures["stress_heavy"]["sensitivity"],
    }


def _save_model_meta(
    ws: WindowSet,
    rule: dict[str, Any],
    preprocess: dict[str, Any],
    cfg: TrainConfig,
    out: Path,
    report: dict[str, Any],
    exportable: dict[str, dict[str, Any]],
) -> None:
    """``model_meta.json``: what export needs besides the saved models."""
    gc, gs = fit_global(ws, np.unique(ws.session), rule)
    for name, entry in exportable.items():
        entry["cv_balanced_accuracy"] = (
            entry["nested_balanced_accuracy"]
            if entry.get("nested")
            else report["models"][name]["balanced_accuracy"]
        )
    meta = {
        "classes": ws.classes,
        "channels": ws.channel_names,
        "feature_names": ws.feature_names,
        "preprocess": preprocess,
        "window_s": ws.window_s,
        "hop_s": ws.hop_s,
        "max_missing": cfg.max_missing,
        "calibration": {**rule, "global_centre": gc.tolist(), "global_scale": gs.tolist()},
        "trained_on_subjects": sorted(map(str, np.unique(ws.subject))),
        "data": report["data"],
        "data_options": cfg.data,
        "exportable": exportable,
        "cv_summary": {
            m: {"balanced_accuracy": r["balanced_accuracy"], "macro_f1": r["macro_f1"]}
            for m, r in report["models"].items()
        },
    }
    (out / "model_meta.json").write_text(json.dumps(meta, indent=2))


def _save_final_cnn(
    ws: WindowSet,
    rule: dict[str, Any],
    cfg: TrainConfig,
    out: Path,
    curves: list[dict[str, list[float]]] | None = None,
) -> dict[str, Any]:
    """Train the compact CNN on every subject and save it with what export needs."""
    curves = curves or []
    idx = np.arange(len(ws))
    gc, gs = fit_global(ws, np.unique(ws.session), rule)
    x = calibrated_inputs(ws, idx, rule, gc, gs)
    # refit on every subject for the number of epochs the folds' early stopping chose
    best = [int(np.argmin(h["val_loss"])) + 1 for h in curves if h.get("val_loss")]
    epochs = int(np.median(best)) if best else cfg.cnn.epochs
    net, hist = train_compact_cnn(
        x,
        ws.y,
        ws.subject,
        len(ws.classes),
        cfg.cnn,
        cfg.seed,
        fixed_epochs=epochs,
        channel_names=ws.channel_names,
        rate=ws.rate,
    )
    net.save(out / "cnn.keras")
    _save_representative(x, cfg.seed, out / "representative.npy")
    return {
        "file": "cnn.keras",
        "input": "frames",
        "representative": "representative.npy",
        "epochs_trained": len(hist.get("loss", [])),
    }
