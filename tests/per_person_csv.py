"""Per-person CSV files (``time, hr, temp, eda, label, subject``) built from the real
Stress-Predict E4 recordings: the layout of a researcher's data set of one file per person, with
the device's own heart rate (``HR.csv``, 1 Hz) as the only cardiac channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.data.e4 import read_e4_dataset


def write_per_person_csvs(root: Path, out: Path, subjects: list[str]) -> list[Path]:
    """One CSV per subject in ``out``: rows at the EDA samples (4 Hz), ``hr`` on the row
    nearest each heart-rate sample (1 Hz; the other rows empty), the processed per-second
    label of the row's time (empty where unlabelled) and the subject id."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for rec in read_e4_dataset(root, subjects=subjects):
        eda, temp, hr = rec.signals["eda"], rec.signals["temp"], rec.signals["hr"]
        n = min(eda.n_samples, temp.n_samples)
        t = eda.times()[:n]
        hr_cells = np.full(n, "", dtype=object)
        rows = np.searchsorted(t, hr.times())
        ok = rows < n
        hr_cells[rows[ok]] = [f"{v:.2f}" for v in hr.data[ok, 0]]
        starts = np.array([iv.start for iv in rec.labels])
        labels = np.full(n, "", dtype=object)
        i = np.searchsorted(starts, t, side="right") - 1
        for j in np.flatnonzero(i >= 0):
            iv = rec.labels[i[j]]
            if t[j] < iv.end:
                labels[j] = iv.label
        lines = ["time,hr,temp,eda,label,subject"] + [
            f"{t[j]:.3f},{hr_cells[j]},{temp.data[j, 0]:.2f},{eda.data[j, 0]:.6f},"
            f"{labels[j]},{rec.subject}"
            for j in range(n)
        ]
        f = out / f"{rec.subject}.csv"
        f.write_text("\n".join(lines) + "\n")
        files.append(f)
    return files
