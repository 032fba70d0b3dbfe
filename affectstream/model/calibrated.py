"""Applying a calibration rule to a window set, with statistics from training sessions only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from affectstream.dsp.calibration import Calibration, check_rule, make_calibration, warmup_s
from affectstream.model.feature_calibration import FEATURE_KINDS, FeatureRule, replay
from affectstream.model.windows import WindowSet


def replayed_features(ws: WindowSet, idx: np.ndarray, rule: FeatureRule) -> np.ndarray:
    """Features of the windows at ``idx`` scaled by ``rule`` exactly as the live monitor scales
    them: each session's whole hop schedule replayed through one
    :class:`~affectstream.model.feature_calibration.FeatureCalibrator`. Shape
    ``(len(idx), n_features)``, NaN where a feature is unknown."""
    out = np.full((idx.size, len(ws.feature_names)), np.nan)
    if ws.schedule_row is None:
        raise ValueError("these windows were cut without their schedule; cut them again")
    for key in np.unique(ws.session[idx]):
        rows = np.flatnonzero(ws.session[idx] == key)
        t_end, feats = ws.schedule[key]
        out[rows] = replay(rule, feats, t_end)[ws.schedule_row[idx[rows]]]
    return out


def person_centre(
    ws: WindowSet, session: str, rule: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per channel that the rule takes as this session's person baseline (for
    ``rest``, its reference before the first rest interval ends: the baseline)."""
    st = ws.sessions[session]
    if rule["kind"] in ("baseline", "rest"):
        if st.baseline_mean is None or st.baseline_std is None:
            raise ValueError(
                f"session {session} is shorter than the {rule['baseline_s']:g} s baseline; use "
                "calibration kind 'subject' (the person's whole data) or a shorter baseline_s"
            )
        return st.baseline_mean, st.baseline_std
    # subject: pool every session of the same person
    subj = ws.subject[ws.session == session][0] if (ws.session == session).any() else None
    keys = [
        k for k in ws.sessions if subj is not None and (ws.subject[ws.session == k] == subj).any()
    ]
    keys = keys or [session]
    n = np.array([ws.sessions[k].n_frames for k in keys], float)[:, None]
    means = np.stack([ws.sessions[k].mean for k in keys])
    vars_ = np.stack([ws.sessions[k].var for k in keys])
    mean = (n * means).sum(0) / n.sum()
    var = (n * (vars_ + means**2)).sum(0) / n.sum() - mean**2
    std = np.sqrt(np.maximum(var, 0))
    return mean, np.where(std > 0, std, 1.0)


def fit_global(
    ws: WindowSet, sessions: Iterable[str], rule: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and spread per channel over the training ``sessions``.

    For ``none``: the pooled mean and std. For person rules: zero centre and the pooled spread
    of the frames around each person's own centre.
    """
    keys = list(dict.fromkeys(sessions))
    if rule["kind"] == "running":  # every channel is scaled by the person's own statistics
        n_ch = len(ws.channel_names)
        return np.zeros(n_ch), np.ones(n_ch)
    n = np.array([ws.sessions[k].n_frames for k in keys], float)[:, None]
    means = np.stack([ws.sessions[k].mean for k in keys])
    vars_ = np.stack([ws.sessions[k].var for k in keys])
    if rule["kind"] == "none":
        mean = (n * means).sum(0) / n.sum()
        var = (n * (vars_ + means**2)).sum(0) / n.sum() - mean**2
    else:
        centres = np.stack([person_centre(ws, k, rule)[0] for k in keys])
        mean = np.zeros(means.shape[1])
        var = (n * (vars_ + (means - centres) ** 2)).sum(0) / n.sum()
    std = np.sqrt(np.maximum(var, 0))
    return mean, np.where(std > 0, std, 1.0)


def session_calibration(
    ws: WindowSet,
    session: str,
    rule: Mapping[str, Any],
    global_centre: np.ndarray,
    global_scale: np.ndarray,
) -> Calibration:
    """The :class:`Calibration` the live monitor would use for this session."""
    person = None if rule["kind"] == "none" else person_centre(ws, session, rule)
    return make_calibration(rule, ws.channel_names, global_centre, global_scale, person)


def calibrated_inputs(
    ws: WindowSet,
    idx: np.ndarray,
    rule: Mapping[str, Any],
    global_centre: np.ndarray,
    global_scale: np.ndarray,
) -> np.ndarray:
    """Normalised CNN input for the windows at ``idx``, shape ``(len(idx), n_frames, n_ch)``."""
    rule = check_rule(rule)
    out = np.empty((idx.size, *ws.x.shape[1:]), dtype=np.float32)
    if rule["kind"] in ("running", "rest"):  # statistics of the session up to each window
        mean, std = ws.running_frames if rule["kind"] == "running" else rest_stats(ws, rule)[0]
        for j, i in enumerate(idx):
            person = (mean[i], std[i])
            cal = make_calibration(rule, ws.channel_names, global_centre, global_scale, person)
            out[j] = cal.apply(ws.x[i].astype(np.float64))
        return out
    for key in np.unique(ws.session[idx]):
        rows = np.flatnonzero(ws.session[idx] == key)
        cal = session_calibration(ws, key, rule, global_centre, global_scale)
        out[rows] = cal.apply(ws.x[idx[rows]].astype(np.float64))
    return out


def calibrated_features(ws: WindowSet, idx: np.ndarray, rule: Mapping[str, Any]) -> np.ndarray:
    """Features of the windows at ``idx`` normalised per person by the rule: the baseline mean
    subtracted (``baseline``), or z-scored with the person's feature statistics so far
    (``running``), over the rest periods ended so far (``rest``) or over all of the person's
    sessions (``subject``)."""
    rule = check_rule(rule)
    f = ws.features[idx].copy()
    if rule["kind"] == "none":
        return f
    if rule["kind"] in FEATURE_KINDS:  # the monitor's own calibrator, replayed
        return replayed_features(ws, idx, FeatureRule.from_dict(rule))
    if rule["kind"] == "rest":  # a std is already 1 where there is no spread
        mean, std = rest_stats(ws, rule)[1]
        z = (f - mean[idx]) / std[idx]
        return np.clip(z, -rule["clip"], rule["clip"])  # NaN (missing) stays NaN
    for key in np.unique(ws.session[idx]):
        rows = ws.session[idx] == key
        if rule["kind"] == "baseline":
            ref = ws.sessions[key].feature_baseline
            if ref is not None:
                f[rows] = f[rows] - ref
            continue
        subj = ws.subject[idx][rows][0]
        keys = np.unique(ws.session[ws.subject == subj])
        ref = np.nanmean(np.stack([ws.sessions[k].feature_mean for k in keys]), axis=0)
        spread = np.nanmean(np.stack([ws.sessions[k].feature_std for k in keys]), axis=0)
        f[rows] = (f[rows] - ref) / np.where(spread > 0, spread, 1.0)
    return f


def rest_stats(
    ws: WindowSet, rule: Mapping[str, Any]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``rest`` calibration's (mean, std) of frames and of features at each window."""
    if ws.rest_frames is None or ws.rest_features is None:
        raise ValueError(
            "these windows were cut without rest labels; pass rest_labels to make_windows "
            "to calibrate on the person's rest periods"
        )
    if sorted(ws.rest_labels or []) != sorted(rule["labels"]):
        raise ValueError(
            f"the windows hold rest statistics for labels {ws.rest_labels}, the rule asks for "
            f"{rule['labels']}; cut the windows with the rule's labels"
        )
    return ws.rest_frames, ws.rest_features


def feature_inputs(
    ws: WindowSet, idx: np.ndarray, rule: Mapping[str, Any], fill: np.ndarray
) -> np.ndarray:
    """A feature model's input for the windows at ``idx``: features z-scored with the running
    statistics at each window's end (the rule's :class:`FeatureCalibrator`), missing values set
    to ``fill``; shape ``(len(idx), n_features)``, float32. What
    :class:`affectstream.model.feature_input.FeatureEncoder` gives live."""
    z = replayed_features(ws, idx, FeatureRule.from_dict(rule))
    return np.where(np.isnan(z), np.asarray(fill, dtype=np.float64), z).astype(np.float32)


def warm_rows(ws: WindowSet, rule: Mapping[str, Any]) -> np.ndarray:
    """Indices of the windows the rule can calibrate the way the live monitor does: every
    window, or those ending after the warm-up of ``running`` calibration (``min_s``) or the
    baseline of ``baseline`` and ``rest`` calibration (``baseline_s``), which the monitor does
    not predict."""
    rule = check_rule(rule)
    if warmup_s(rule) <= 0:
        return np.arange(len(ws))
    return np.flatnonzero(ws.t_end >= warmup_s(rule) - 1e-9)
