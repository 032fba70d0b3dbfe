"""The error every reader raises for input it cannot use."""

from __future__ import annotations


class RecordingFormatError(ValueError):
    """A file could not be read as a recording.

    The message names the file, the row (1-based line number in the file, where one applies),
    what was wrong and what to do about it.
    """

    def __init__(self, path: object, problem: str, *, row: int | None = None, hint: str = ""):
        where = f"{path}" + (f", line {row}" if row is not None else "")
        msg = f"{where}: {problem}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)
        self.path = str(path)
        self.row = row
