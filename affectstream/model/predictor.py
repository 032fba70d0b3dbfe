"""The runtime predictor: a bundle's int8 model behind one ``predict`` call.

Imports numpy and a TFLite runtime only: never TensorFlow (unless nothing else is installed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.dsp.calibration import (
    Calibration,
    OutputCentring,
    OutputOffset,
    check_rule,
    make_calibration,
)
from affectstream.model.bundle import Bundle, BundleError, read_bundle
from affectstream.model.feature_input import check_feature_input, input_kind
from affectstream.model.interpreter import make_interpreter


class Predictor:
    """Predict class probabilities for normalised windows with a bundle's int8 model.

    The model takes a window's normalised frames ``(window_frames, n_channels)`` (input kind
    ``frames``, the CNN) or its normalised features ``(n_features,)`` (input kind ``features``,
    see :mod:`affectstream.model.feature_input`).

    Parameters
    ----------
    bundle
        Path of a bundle, ``"default"`` for the packaged model, or a :class:`Bundle`.
    num_threads
        Interpreter threads.

    Attributes
    ----------
    classes, channels, window_frames, model_id, metadata, runtime, input_kind, input_shape
    """

    def __init__(self, bundle: str | Path | Bundle = "default", num_threads: int = 1) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
        meta = self.bundle.metadata
        self.metadata = meta
        typed = self.bundle.meta  # validated when read
        self.classes: list[str] = list(typed.classes)
        self.channels: list[str] = list(typed.channels)
        self.window_frames = typed.window_frames
        self.model_id: str = typed.model_id
        self.rate = typed.model_rate
        #: largest share of missing frames a predicted window may hold (what training left out)
        self.max_missing = typed.max_missing
        self.calibration_rule = check_rule(meta["calibration"])
        try:
            self.input_kind = input_kind(meta)
            self.feature_names: list[str] = (
                check_feature_input(meta, self.channels) if self.input_kind == "features" else []
            )
        except ValueError as exc:
            raise BundleError(f"{self.bundle.path}: {exc}") from exc
        self.input_shape: tuple[int, ...] = (
            (len(self.feature_names),)
            if self.input_kind == "features"
            else (self.window_frames, len(self.channels))
        )
        try:
            self._interp, self.runtime = make_interpreter(self.bundle.model_bytes, num_threads)
        except (ValueError, RuntimeError) as exc:
            raise BundleError(
                f"{self.bundle.path}: the TFLite model does not load ({exc})"
            ) from exc
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        self._in_idx, self._out_idx = inp["index"], out["index"]
        self._in_dtype, self._out_dtype = inp["dtype"], out["dtype"]
        self._in_q = inp["quantization"]
        self._out_q = out["quantization"]
        shape = tuple(int(s) for s in inp["shape"][1:])
        if shape != self.input_shape:
            raise BundleError(
                f"{self.bundle.path}: model input {shape} does not match the metadata's "
                f"{self.input_kind} {self.input_shape}; re-export the model"
            )
        self._batch = 1

    def check_channels(self, available: Sequence[str]) -> None:
        """Raise when the stream lacks a channel the model needs (a derived channel, such as
        ``heart_rate``, is named with the modality it is computed from)."""
        derived = {d["name"]: d["source"] for d in self.metadata["preprocess"].get("derived") or []}
        missing = [
            f"{c} (derived from {derived[c]})" if c in derived else c
            for c in self.channels
            if c not in available
        ]
        if missing:
            raise BundleError(
                f"model {self.model_id} needs channel(s) {missing} which the stream does not "
                f"have (it has {list(available)}); connect those sensors or use another model"
            )

    def calibration(self, person: tuple[np.ndarray, np.ndarray] | None = None) -> Calibration:
        """The frame normalisation for a person (``person``: baseline mean and std); a feature
        model normalises with :class:`~affectstream.model.feature_input.FeatureEncoder`."""
        if self.input_kind == "features":
            raise ValueError(
                f"model {self.model_id} takes window features: encode windows with "
                "affectstream.model.feature_input.FeatureEncoder, not a frame calibration"
            )
        rule = self.calibration_rule
        return make_calibration(
            rule,
            self.channels,
            np.asarray(rule["global_centre"]),
            np.asarray(rule["global_scale"]),
            person,
        )

    def output_step(self) -> OutputCentring | OutputOffset | None:
        """The bundle's output post-processing, fresh for one person: an
        :class:`~affectstream.dsp.calibration.OutputCentring` (``centre_output``), an
        :class:`~affectstream.dsp.calibration.OutputOffset` (the operating point chosen in
        training, calibration ``output``), or None (served as predicted). Apply it to one
        person's :meth:`predict` results in time order."""
        rule = self.calibration_rule
        if rule["centre_output"]:
            return OutputCentring(len(self.classes))
        out = rule.get("output")
        if out is not None:
            if out["class"] not in self.classes:
                raise BundleError(
                    f"{self.bundle.path}: output offset names class {out['class']!r}, not one of "
                    f"{self.classes}; re-export the model"
                )
            return OutputOffset(self.classes.index(out["class"]), out["log_offset"])
        return None

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self._interp.resize_tensor_input(self._in_idx, [n, *self.input_shape])
            self._interp.allocate_tensors()
            self._batch = n

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities for normalised windows.

        Parameters
        ----------
        windows
            Shape ``(n, *input_shape)`` or one window ``input_shape``: frames ``(window_frames,
            n_channels)`` normalised by :meth:`calibration`, or features ``(n_features,)`` from
            :class:`~affectstream.model.feature_input.FeatureEncoder`.

        Returns
        -------
        Shape ``(n, n_classes)`` (or ``(n_classes,)`` for one window), float32, rows sum to ~1.
        """
        x = np.asarray(windows, dtype=np.float32)
        single = x.ndim == len(self.input_shape)
        if single:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            what = self.feature_names if self.input_kind == "features" else self.channels
            raise ValueError(
                f"windows have shape {np.shape(windows)}; model {self.model_id} takes "
                f"(n, {', '.join(map(str, self.input_shape))}) {self.input_kind} for {what}"
            )
        self._resize(x.shape[0])
        if self._in_dtype == np.int8:
            scale, zero = self._in_q
            q = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
            self._interp.set_tensor(self._in_idx, q)
        else:
            self._interp.set_tensor(self._in_idx, x)
        self._interp.invoke()
        y: np.ndarray = np.asarray(self._interp.get_tensor(self._out_idx))
        if self._out_dtype == np.int8:
            scale, zero = self._out_q
            y = (y.astype(np.float32) - zero) * scale
        return y[0] if single else y

    def describe(self) -> dict[str, Any]:
        """Tensor types, shapes, quantization and operators of the loaded model."""
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        ops: list[str] = []
        with contextlib.suppress(Exception):  # a runtime without the private helper: no list
            ops = sorted({d["op_name"] for d in self._interp._get_ops_details()})

        def tensor(d: dict[str, Any]) -> dict[str, Any]:
            return {
                "name": d["name"],
                "dtype": np.dtype(d["dtype"]).name,
                "shape": [int(s) for s in d["shape"]],
                "scale": float(d["quantization"][0]),
                "zero_point": int(d["quantization"][1]),
            }

        return {
            "runtime": self.runtime,
            "input": tensor(inp),
            "output": tensor(out),
            "operators": ops,
        }
