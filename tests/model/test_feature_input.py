from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.features import FEATURES_VERSION, feature_names, window_features
from affectstream.model.feature_input import FeatureEncoder, check_feature_input, input_kind

CHANNELS = ["bvp", "eda", "temp"]


def _meta(**edits):
    names = feature_names(CHANNELS)
    meta = {
        "input": {
            "kind": "features",
            "names": names,
            "fill": [0.5] * len(names),
            "features_version": FEATURES_VERSION,
        },
        "calibration": {"kind": "running", "min_s": 300.0, "clip": 4.0},
    }
    meta["input"].update(edits)
    return meta


def test_input_kind_defaults_to_frames_and_refuses_unknown_kinds():
    assert input_kind({}) == "frames"
    assert input_kind(_meta()) == "features"
    with pytest.raises(ValueError, match="input kind 'spectra' is unknown"):
        input_kind({"input": {"kind": "spectra"}})


def test_a_feature_list_from_another_version_is_refused_by_name():
    with pytest.raises(ValueError, match="trained on features \\['hr_bpm'\\]"):
        check_feature_input(_meta(names=["hr_bpm"], fill=[0.0]), CHANNELS)
    meta = _meta()
    meta["calibration"] = {"kind": "baseline", "baseline_s": 300.0}
    with pytest.raises(ValueError, match="needs running or anchored calibration"):
        check_feature_input(meta, CHANNELS)


def test_features_computed_another_way_under_the_same_names_are_refused():
    check_feature_input(_meta(), CHANNELS)
    meta = _meta()
    del meta["input"]["features_version"]  # bundles from before versions: version 1
    with pytest.raises(ValueError, match=r"features of version 1; .* computes version 3"):
        check_feature_input(meta, CHANNELS)


def test_encoder_z_scores_with_the_statistics_so_far_and_fills_missing(excerpt):
    from affectstream.dsp.preprocessor import Preprocessor
    from affectstream.dsp.presets import E4_CONFIG

    pp = Preprocessor(E4_CONFIG)
    frames = pp.process_recording(excerpt)
    n = int(60 * pp.rate)
    enc = FeatureEncoder(_meta(), pp.channel_names, pp.rate)
    wins = [frames.x[a : a + n] for a in range(0, 10 * n, n // 4)]
    feats = np.array([window_features(w, pp.channel_names, pp.rate) for w in wins])
    ends = [(a + n) / pp.rate for a in range(0, 10 * n, n // 4)]
    out = [enc.encode(w, t) for w, t in zip(wins, ends, strict=True)]
    # the first window is the only one seen: every finite feature sits at the centre
    assert np.allclose(out[0][np.isfinite(feats[0])], 0.0)
    mean, std = np.nanmean(feats, axis=0), np.nanstd(feats, axis=0)
    z = np.clip((feats[-1] - mean) / np.where(std > 0, std, 1), -4, 4)
    ok = np.isfinite(z)
    np.testing.assert_allclose(out[-1][ok], z[ok], atol=1e-5)
    gap = wins[-1].copy()
    gap[:, 1] = np.nan  # no EDA at all: its features take the fill value
    eda = [i for i, f in enumerate(enc.names) if f.startswith("eda_")]
    assert np.allclose(enc.encode(gap, ends[-1] + 15.0)[eda], 0.5)
