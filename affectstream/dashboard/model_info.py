"""What the page needs to know about the model: its classes, window, hop and decision threshold.

Read from the bundle's metadata only (a zip and JSON: no interpreter is loaded).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from affectstream.model.bundle import read_bundle


@dataclass(frozen=True)
class ModelInfo:
    """The model facts the dashboard draws.

    Attributes
    ----------
    model_id
        The bundle's id (records name it in ``model``).
    classes
        Class names in the bundle's order.
    window_s
        Seconds of signal each prediction sees.
    hop_s
        Seconds between two predictions (the bundle's default hop).
    positive
        For two classes: the class whose probability the threshold applies to (the one the
        operating point makes harder to call); None for more classes.
    threshold
        Served probability of ``positive`` above which it is called (0.5 for two classes: the
        published probabilities already carry the operating point); None for more classes
        (the most probable class is called).
    raw_threshold
        The same decision on the model's own probability, before the operating point (None
        without one).
    note
        One line saying how the label is chosen.
    """

    model_id: str
    classes: tuple[str, ...]
    window_s: float
    hop_s: float
    positive: str | None
    threshold: float | None
    raw_threshold: float | None
    note: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the page."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d


def model_info(model: str | Path = "default") -> ModelInfo:
    """The :class:`ModelInfo` of a bundle path or ``"default"`` (the packaged one).

    Raises
    ------
    affectstream.model.bundle.BundleError
        When the file is not a readable bundle (the message names it).
    """
    meta = read_bundle(model).meta
    classes = tuple(meta.classes)
    cal = meta.calibration or {}
    out = cal.get("output") if isinstance(cal, dict) else None
    positive = threshold = raw = None
    if len(classes) == 2:
        threshold = 0.5
        positive = classes[-1]
        note = f"label: {positive} when p({positive}) > 0.5"
        if out and out.get("kind") == "offset" and out.get("class") in classes:
            positive = next(c for c in classes if c != out["class"])
            raw = 1.0 / (1.0 + math.exp(-float(out["log_offset"])))
            rate = out.get("target_false_alarm_rate")
            note = (
                f"label: {positive} when p({positive}) > 0.5 (the operating point: the model's "
                f"own p({positive}) above {raw:.2f}"
                + (f", {rate:.0%} false alarms on calm training days)" if rate else ")")
            )
        elif cal.get("centre_output"):
            note += " (output centred on the person's mean so far)"
    else:
        note = "label: the most probable class"
    return ModelInfo(
        model_id=str(meta.model_id),
        classes=classes,
        window_s=float(meta.window_s),
        hop_s=float(meta.default_hop_s),
        positive=positive,
        threshold=threshold,
        raw_threshold=None if raw is None else round(raw, 4),
        note=note,
    )
