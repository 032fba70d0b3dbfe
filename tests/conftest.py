"""Shared fixtures: where the real recordings are, and the bundled excerpt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from affectstream.data import Recording, load_npz

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AFFECTSTREAM_SHARED_DATA", REPO.parent / "shared" / "data"))
EXCERPT = REPO / "affectstream" / "data" / "excerpts" / "stress_predict_S13.npz"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not found at {p} (set AFFECTSTREAM_SHARED_DATA)")
    return p


@pytest.fixture(scope="session")
def stress_predict() -> Path:
    """Root of the Stress-Predict E4 dataset."""
    return shared_path("stress_predict")


@pytest.fixture(scope="session")
def mitdb_100() -> Path:
    """MIT-BIH record 100 (path without extension)."""
    return shared_path("mitdb_100") / "100"


@pytest.fixture(scope="session")
def excerpt() -> Recording:
    """The bundled E4 excerpt (S13, 1,320 s)."""
    return load_npz(EXCERPT)
