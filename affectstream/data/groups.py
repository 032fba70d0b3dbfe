"""Subject ids for recordings that carry none: records laid out person by person, or a file
naming each record's person.

Without subject ids a held-out split can only keep each recording apart, and one person's
records then sit on both sides of it; these give the split its people back.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from affectstream.data.recording import Recording


def assign_subjects(
    recordings: Sequence[Recording],
    *,
    records_per_subject: int | None = None,
    groups_file: str | Path | None = None,
) -> list[Recording]:
    """The recordings with subject ids from their layout or a groups file.

    Parameters
    ----------
    recordings
        In file order (the long CSV's record order).
    records_per_subject
        The table holds each person's records one after another, this many per person: record
        ``i`` gets subject ``s{i // records_per_subject:03d}``.
    groups_file
        A text or CSV file with one line per record in file order holding the record's subject
        id, or two columns ``record,subject`` where ``record`` is the record's index (from 0)
        or session name (``record0003``); a header line ``subject`` or ``record,subject`` is
        allowed.

    Neither given: the recordings unchanged. Raises ValueError naming the problem when both
    are given, the count does not divide the records, or the file misses a record.
    """
    recs = list(recordings)
    if records_per_subject is None and groups_file is None:
        return recs
    if records_per_subject is not None and groups_file is not None:
        raise ValueError("give records_per_subject or a groups file, not both")
    if records_per_subject is not None:
        n = int(records_per_subject)
        if n < 1:
            raise ValueError(f"records_per_subject = {n}: a positive number of records")
        if len(recs) % n:
            raise ValueError(
                f"{len(recs)} records are not a whole number of people of {n} records each; "
                "check --records-per-subject (records are taken in file order)"
            )
        ids = [f"s{i // n:03d}" for i in range(len(recs))]
    elif groups_file is not None:
        ids = read_groups_file(groups_file, recs)
    else:
        return recs
    return [dataclasses.replace(r, subject=s) for r, s in zip(recs, ids, strict=True)]


def read_groups_file(path: str | Path, recordings: Sequence[Recording]) -> list[str]:
    """The subject id of each recording from a groups file (see :func:`assign_subjects`)."""
    with open(path, newline="") as fh:
        rows = [[c.strip() for c in row] for row in csv.reader(fh) if any(c.strip() for c in row)]
    if rows and [c.lower() for c in rows[0]] in (["subject"], ["record", "subject"]):
        rows = rows[1:]
    if not rows:
        raise ValueError(f"{path}: no subject ids in the groups file")
    widths = {len(r) for r in rows}
    if widths == {1}:
        if len(rows) != len(recordings):
            raise ValueError(
                f"{path}: {len(rows)} subject ids for {len(recordings)} records; give one line "
                "per record in file order, or record,subject pairs"
            )
        return [r[0] for r in rows]
    if widths != {2}:
        raise ValueError(f"{path}: lines of {sorted(widths)} fields; use subject or record,subject")
    given = {rec: subj for rec, subj in rows}
    out = []
    for i, r in enumerate(recordings):
        key = str(i) if str(i) in given else r.session
        if key not in given:
            raise ValueError(
                f"{path}: no subject for record {i} ({r.session}); name every record by its "
                "index from 0 or its session name"
            )
        out.append(given[key])
    return out
