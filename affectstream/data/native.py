"""The project's own compressed recording format (``.npz``): lossless, fast, no pickle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import LabelInterval, Recording, Signal

FORMAT = "affectstream-recording"
VERSION = 1


def _compact(data: np.ndarray) -> np.ndarray:
    """float32 when that holds every value exactly, else float64."""
    d32 = data.astype(np.float32)
    return d32 if np.array_equal(d32.astype(np.float64), data, equal_nan=True) else data


def save_npz(rec: Recording, path: str | Path | BinaryIO) -> None:
    """Write a recording to ``path`` as a compressed ``.npz`` with a JSON header."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "subject": rec.subject,
        "session": rec.session,
        "labels": [[iv.label, iv.start, iv.end] for iv in rec.labels],
        "meta": {k: v for k, v in rec.meta.items() if isinstance(v, str | int | float | list)},
        "signals": {
            k: {
                "fs": s.fs,
                "start_time": s.start_time,
                "channels": list(s.channels),
                "unit": s.unit,
                "irregular": s.timestamps is not None,
            }
            for k, s in rec.signals.items()
        },
    }
    arrays = {f"data_{k}": _compact(s.data) for k, s in rec.signals.items()}
    arrays.update(
        {f"t_{k}": s.timestamps for k, s in rec.signals.items() if s.timestamps is not None}
    )
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez_compressed(path, allow_pickle=False, **arrays)


def load_npz(path: str | Path) -> Recording:
    """Read a recording written by :func:`save_npz`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z.files:
                raise RecordingFormatError(
                    path,
                    f"a NumPy .npz without the affectstream header (it holds the arrays "
                    f"{', '.join(z.files[:6]) or 'none'})",
                    hint="Write recordings with affectstream.data.save_npz(recording, path), or "
                    "save the signals as a CSV with a time column",
                )
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") != FORMAT:
                raise RecordingFormatError(path, "not an affectstream recording (.npz)")
            if header.get("version") != VERSION:
                raise RecordingFormatError(
                    path,
                    f"recording format version {header.get('version')} is not {VERSION}",
                    hint="Upgrade affectstream or re-export the recording",
                )
            signals = {
                k: Signal(
                    z[f"data_{k}"].astype(np.float64),
                    m["fs"],
                    m["start_time"],
                    tuple(m["channels"]),
                    z[f"t_{k}"] if m["irregular"] else None,
                    m["unit"],
                )
                for k, m in header["signals"].items()
            }
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, RecordingFormatError):
            raise
        raise RecordingFormatError(path, f"damaged recording file ({exc})") from exc
    return Recording(
        signals,
        subject=header["subject"],
        session=header["session"],
        labels=[LabelInterval(a, b, c) for a, b, c in header["labels"]],
        source=str(path),
        meta=header.get("meta", {}),
    )
