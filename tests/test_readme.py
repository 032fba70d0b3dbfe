"""The README's Python API examples run, in order, as one script."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_path


def python_blocks(section: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_the_python_api_examples_run(tmp_path, capsys):
    blocks = python_blocks("Python API")
    assert len(blocks) >= 4
    stress = shared_path("stress_predict")  # skips (counted) without the shared data
    # the examples name ../shared/data relative to a checkout beside ../shared
    (tmp_path / "repo").mkdir()
    os.symlink(stress.parents[1], tmp_path / "shared")
    cwd = Path.cwd()
    os.chdir(tmp_path / "repo")
    try:
        namespace: dict = {}
        for block in blocks:
            exec(compile(block, "README.md (Python API)", "exec"), namespace)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "windows;" in out and "state saved in" in out and "affectstream-" in out
    assert (tmp_path / "repo" / "runs" / "api" / "model.afb").exists()


def test_the_top_level_names_are_the_public_api():
    import affectstream

    for name in affectstream.__all__:
        assert getattr(affectstream, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        affectstream.nope  # noqa: B018
