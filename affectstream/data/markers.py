"""Markers (time-stamped strings: XDF marker streams, EDF+ annotations) as label intervals.

The convention: ``LABEL:start`` opens the label ``LABEL`` and ``LABEL:end`` closes it (case of
``start``/``end`` ignored; an open label is also closed by the next ``:start`` and by the end of
the recording). Other markers are ignored unless ``marker_map`` maps them, to ``LABEL:start``,
``LABEL:end`` or a bare ``LABEL``: a state, which holds from that marker to the next mapped or
``:start`` marker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from affectstream.data.recording import LabelInterval

_MARKER_RE = re.compile(r"^(?P<label>.+?)\s*:\s*(?P<edge>start|end)$", re.IGNORECASE)


def parse_marker_map(items: Sequence[str]) -> dict[str, str]:
    """``["Stroop begins=stress:start", "Rest=rest"]`` -> ``{"Stroop begins": "stress:start",
    "Rest": "rest"}``.

    Raises
    ------
    ValueError
        For an item without ``=``, saying how to write one.
    """
    out = {}
    for item in items:
        marker, sep, label = item.rpartition("=")
        if not sep or not marker.strip() or not label.strip():
            raise ValueError(
                f"marker map entry {item!r}: write MARKER=LABEL:start, MARKER=LABEL:end or "
                "MARKER=LABEL (a state until the next mapped marker)"
            )
        out[marker.strip()] = label.strip()
    return out


def markers_to_labels(
    times: np.ndarray,
    markers: Sequence[str],
    end_time: float,
    marker_map: Mapping[str, str] | None = None,
) -> list[LabelInterval]:
    """Label intervals from marker strings (the convention in the module docstring).

    Parameters
    ----------
    times
        Marker times in seconds, shape ``(n,)``, increasing.
    markers
        One string per marker.
    end_time
        Where a label still open at the end closes (seconds).
    marker_map
        Marker string -> ``LABEL:start``, ``LABEL:end`` or ``LABEL``.
    """
    out: list[LabelInterval] = []
    open_label: str | None = None
    opened = 0.0

    def close(at: float) -> None:
        nonlocal open_label
        if open_label is not None and at > opened:
            out.append(LabelInterval(open_label, opened, at))
        open_label = None

    for t, raw in zip(np.asarray(times, dtype=np.float64), markers, strict=True):
        text = str(raw).strip()
        if marker_map is not None and text in marker_map:
            text = str(marker_map[text]).strip()
            state = _MARKER_RE.match(text) is None
        else:
            state = False
        m = _MARKER_RE.match(text)
        if m is None and not state:
            continue
        if state:
            close(float(t))
            open_label, opened = text, float(t)
        elif m is not None and m.group("edge").lower() == "start":
            close(float(t))
            open_label, opened = m.group("label"), float(t)
        elif m is not None and open_label == m.group("label"):
            close(float(t))
    close(float(end_time))
    return out
