"""Reader for WFDB (PhysioNet) records, through the ``wfdb`` package (extra ``files``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import MODALITY_UNITS, Recording, Signal, canonical_modality

#: Lead names that mean ECG in WFDB headers.
ECG_LEADS = {
    "i",
    "ii",
    "iii",
    "avr",
    "avl",
    "avf",
    "v1",
    "v2",
    "v3",
    "v4",
    "v5",
    "v6",
    "mlii",
    "mli",
    "mliii",
    "ml2",
    "ecg",
    "ecg1",
    "ecg2",
    "modified lead ii",
}


def _wfdb():
    try:
        import wfdb
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "reading WFDB records needs the wfdb package: pip install 'affectstream[files]'"
        ) from exc
    return wfdb


def record_base(path: str | Path) -> Path:
    """The record path without extension (``.../100`` for ``.../100.hea``)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".hea", ".dat", ".atr") else p


def is_wfdb_record(path: str | Path) -> bool:
    """True when ``path`` names a WFDB record (its ``.hea`` header exists)."""
    return record_base(path).with_suffix(".hea").is_file()


def read_wfdb(path: str | Path, *, channels: list[str] | None = None) -> Recording:
    """Read a WFDB record; ECG leads become one ``ecg`` signal with a channel per lead.

    Parameters
    ----------
    path
        Record path with or without ``.hea``.
    channels
        Only these signal names (all when None).
    """
    wfdb = _wfdb()
    base = record_base(path)
    try:
        rec = wfdb.rdrecord(str(base), channel_names=channels)
    except Exception as exc:  # wfdb raises many types for damaged records
        raise RecordingFormatError(
            base,
            f"cannot read the WFDB record ({exc})",
            hint="Check the .hea header and the .dat signal file",
        ) from exc
    if rec.p_signal is None or rec.p_signal.size == 0:
        raise RecordingFormatError(base, "the record holds no samples")
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(rec.sig_name):
        mod = "ecg" if name.strip().lower() in ECG_LEADS else canonical_modality(name)
        groups.setdefault(mod or name.strip().lower(), []).append(j)
    signals = {
        mod: Signal(
            np.asarray(rec.p_signal[:, js], dtype=np.float64),
            float(rec.fs),
            0.0,
            tuple(rec.sig_name[j] for j in js),
            None,
            rec.units[js[0]] if rec.units else MODALITY_UNITS.get(mod, ""),
        )
        for mod, js in groups.items()
    }
    return Recording(
        signals,
        subject=None,
        session=base.name,
        source=str(base),
        meta={"comments": list(rec.comments or [])},
    )


def read_annotation_samples(path: str | Path, extension: str = "atr") -> tuple[np.ndarray, float]:
    """Beat annotations of a WFDB record: sample indices of beats and the record's rate in Hz.

    Only beat annotations count (``wfdb``'s beat symbols: N, L, R, V, A, ...); rhythm, noise and
    comment annotations are dropped.
    """
    wfdb = _wfdb()
    base = record_base(path)
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as exc:
        raise RecordingFormatError(
            f"{base}.{extension}", f"cannot read annotations ({exc})"
        ) from exc
    beat_symbols = set("NLRBAaJSVrFejnE/fQ?")
    keep = np.array([s in beat_symbols for s in ann.symbol], dtype=bool)
    return np.asarray(ann.sample)[keep], float(ann.fs or 0.0)
