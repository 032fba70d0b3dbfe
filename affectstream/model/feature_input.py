"""Models that take a window's DSP features as input instead of its frames.

A feature model (the logistic regression the training report compares, exported as one int8
dense layer) sees, for every window, :func:`affectstream.dsp.features.window_features` scaled
to the person by the bundle's :class:`~affectstream.model.feature_calibration.FeatureRule`
(``running`` or ``anchored``), fed every window from the session's first full window on, on
the hop schedule. One :class:`FeatureEncoder` per session does this for offline prediction and
for the live monitor; training replays the same calibrator over each session's schedule
(:func:`affectstream.model.calibrated.replayed_features`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from affectstream.dsp.features import FEATURES_VERSION, feature_names, window_features
from affectstream.model.feature_calibration import FEATURE_KINDS, FeatureRule

#: Input kinds a bundle can declare (metadata ``input.kind``; absent means frames).
INPUT_KINDS = ("frames", "features")


def input_kind(metadata: Mapping[str, Any]) -> str:
    """``"frames"`` (normalised window frames) or ``"features"`` (normalised window features)."""
    kind = (metadata.get("input") or {}).get("kind", "frames")
    if kind not in INPUT_KINDS:
        raise ValueError(
            f"model input kind {kind!r} is unknown to this affectstream (it knows "
            f"{', '.join(INPUT_KINDS)}); upgrade affectstream or re-export the model"
        )
    return str(kind)


def check_feature_input(metadata: Mapping[str, Any], channel_names: Sequence[str]) -> list[str]:
    """The feature names a feature model expects, checked against what ``dsp`` computes for
    ``channel_names``; raises ``ValueError`` naming the difference."""
    inp = metadata.get("input") or {}
    names = list(inp.get("names") or [])
    fill = list(inp.get("fill") or [])
    ours = feature_names(channel_names)
    if names != ours:
        raise ValueError(
            f"the model was trained on features {names}; this affectstream computes {ours} "
            "for its channels: re-export the model with this version"
        )
    version = inp.get("features_version", 1)
    if version != FEATURES_VERSION:
        raise ValueError(
            f"the model was trained on window features of version {version}; this affectstream "
            f"computes version {FEATURES_VERSION} (same names, other values): retrain and "
            "re-export the model with this version"
        )
    if len(fill) != len(names):
        raise ValueError(f"input.fill has {len(fill)} values for {len(names)} features")
    if metadata["calibration"]["kind"] not in FEATURE_KINDS:
        raise ValueError(
            f"a feature model needs {' or '.join(FEATURE_KINDS)} calibration; this one has "
            f"{metadata['calibration']['kind']!r}: retrain with one of them"
        )
    return names


class FeatureEncoder:
    """Encode one session's windows for a feature model, in schedule order.

    Call :meth:`encode` for every window ending at ``window + j * hop`` frames from the
    session's first frame, including those inside the warm-up (they only update the statistics),
    with its end ``t_end`` in seconds since that first frame.
    At the training hop (the bundle's ``default_hop_s``) the statistics are exactly those training
    used; another hop samples the same session more or less densely, which moves a mean and a
    spread over minutes of windows very little.

    Parameters
    ----------
    metadata
        The bundle's metadata (``input.names``, ``input.fill``, ``calibration.clip``).
    channel_names, rate
        The Preprocessor's channel order and model rate (Hz).
    """

    def __init__(
        self, metadata: Mapping[str, Any], channel_names: Sequence[str], rate: float
    ) -> None:
        self.names = check_feature_input(metadata, channel_names)
        self.channel_names = list(channel_names)
        self.rate = float(rate)
        self.fill = np.asarray(metadata["input"]["fill"], dtype=np.float64)
        self.calibrator = FeatureRule.from_dict(metadata["calibration"]).calibrator(len(self.names))

    @property
    def ready(self) -> bool:
        """True once the calibration's warm-up is over."""
        return self.calibrator.ready

    def encode(self, window: np.ndarray, t_end: float, k0: int = 0, fit: bool = True) -> np.ndarray:
        """Features of ``window`` ``(n_frames, n_channels)``, whose first frame is grid index
        ``k0``, computed from scratch, then :meth:`encode_features`."""
        return self.encode_features(
            window_features(window, self.channel_names, self.rate, k0=k0), t_end, fit
        )

    def encode_features(self, features: np.ndarray, t_end: float, fit: bool = True) -> np.ndarray:
        """A window's features ``(n_features,)`` (from
        :class:`~affectstream.dsp.sliding_features.SlidingFeatures`, as sessions and training
        compute them) ending ``t_end`` seconds after the session's first frame, added to the
        person's calibration (unless ``fit`` is False: a window with too much missing data, see
        :func:`~affectstream.dsp.quality.feeds_calibration`), then scaled by it; shape
        ``(n_features,)``, float32, missing -> the fill value."""
        seen = features if fit else np.full_like(features, np.nan)
        z = self.calibrator.partial_fit(seen, t_end).transform(features)
        return np.where(np.isnan(z), self.fill, z).astype(np.float32)
