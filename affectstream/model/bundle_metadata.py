"""The typed, versioned form of a bundle's ``metadata.json``, validated on read.

The runtime reads nothing but the bundle, so everything training and serving must agree on lives
here: channels and their order, the model rate, window and hop, the share of missing frames a
predicted window may hold (``max_missing``), the Preprocessor config, the calibration rule with
its output step, the model's input and the classes. :meth:`BundleMetadata.from_dict` checks
each field's type and says which is wrong; the plain dict stays available as ``raw`` for the
parts that are themselves configs (preprocess, calibration, input).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``metadata.json`` layout this affectstream reads and writes.
SCHEMA_VERSION = 1

#: Share of missing frames above which a window is abstained on, for bundles without the key.
DEFAULT_MAX_MISSING = 0.1


def _number(d: Mapping[str, Any], key: str, positive: bool = True) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or (positive and not v > 0):
        raise ValueError(
            f"metadata {key!r} must be a {'positive ' if positive else ''}number; got {v!r}"
        )
    return float(v)


def _names(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ValueError(f"metadata {key!r} must be a non-empty list of names; got {v!r}")
    if len(set(v)) != len(v):
        raise ValueError(f"metadata {key!r} names something twice: {v}")
    return tuple(v)


def _mapping(d: Mapping[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    v = d.get(key, None if required else {})
    if not isinstance(v, dict):
        raise ValueError(f"metadata {key!r} must be an object; got {type(v).__name__}")
    return v


@dataclass(frozen=True)
class BundleMetadata:
    """A bundle's metadata, checked (see the module docstring).

    Attributes
    ----------
    model_id, sha256
        Identity of the int8 model and the hex sha256 of its bytes.
    classes, channels, modalities
        Class names in output order; frame channels in input order; input modalities.
    model_rate, window_s, window_frames, default_hop_s
        The model grid (Hz), window (s and frames) and the training hop (s).
    max_missing
        Largest share of missing frames in a window that still gets a prediction.
    raw
        The whole JSON object.
    """

    model_id: str
    sha256: str
    classes: tuple[str, ...]
    channels: tuple[str, ...]
    modalities: tuple[str, ...]
    model_rate: float
    window_s: float
    window_frames: int
    default_hop_s: float
    max_missing: float
    preprocess: dict[str, Any] = field(repr=False)
    calibration: dict[str, Any] = field(repr=False)
    input: dict[str, Any] = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BundleMetadata:
        """Validate ``d`` (a parsed ``metadata.json``); ``ValueError`` names the bad field."""
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"bundle schema version {version!r} is not supported (this affectstream reads "
                f"version {SCHEMA_VERSION}); upgrade affectstream or re-export the model"
            )
        for key in ("model_id", "sha256"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise ValueError(f"metadata {key!r} must be a non-empty string; got {d.get(key)!r}")
        frames = d.get("window_frames")
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ValueError(f"metadata 'window_frames' must be a positive integer; got {frames!r}")
        rate, window_s = _number(d, "model_rate"), _number(d, "window_s")
        if abs(window_s * rate - frames) > 0.5:
            raise ValueError(
                f"metadata window_frames {frames} does not match window_s {window_s:g} s at "
                f"{rate:g} Hz; re-export the model"
            )
        max_missing = d.get("max_missing", DEFAULT_MAX_MISSING)
        if (
            isinstance(max_missing, bool)
            or not isinstance(max_missing, int | float)
            or not (0 <= max_missing < 1)
        ):
            raise ValueError(
                f"metadata 'max_missing' must be a fraction in [0, 1); got {max_missing!r}"
            )
        return cls(
            model_id=d["model_id"],
            sha256=d["sha256"],
            classes=_names(d, "classes"),
            channels=_names(d, "channels"),
            modalities=_names(d, "modalities"),
            model_rate=rate,
            window_s=window_s,
            window_frames=frames,
            default_hop_s=_number(d, "default_hop_s"),
            max_missing=float(max_missing),
            preprocess=_mapping(d, "preprocess"),
            calibration=_mapping(d, "calibration"),
            input=_mapping(d, "input", required=False),
            raw=dict(d),
        )
