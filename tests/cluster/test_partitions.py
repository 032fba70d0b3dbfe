"""Rendezvous assignment: every partition one owner; a joiner takes about 1/n, each from whoever
had it; a leaver's partitions are the only ones that move."""

from __future__ import annotations

from affectstream.cluster.partitions import (
    assignment,
    parse_raw_subject,
    raw_transform,
)


def test_every_partition_has_one_live_owner():
    a = assignment(1024, ["w1", "w2", "w3"])
    assert set(a) == set(range(1024)) and set(a.values()) == {"w1", "w2", "w3"}
    assert assignment(16, []) == {}


def test_a_joiner_takes_about_a_quarter_and_nothing_else_moves():
    before = assignment(1024, ["w1", "w2", "w3"])
    after = assignment(1024, ["w1", "w2", "w3", "w4"])
    moved = [p for p in before if before[p] != after[p]]
    assert all(after[p] == "w4" for p in moved)
    assert 0.2 < len(moved) / 1024 < 0.3


def test_a_leaver_s_partitions_are_the_only_ones_that_move():
    before = assignment(1024, ["w1", "w2", "w3"])
    after = assignment(1024, ["w2", "w3"])
    assert all(before[p] == "w1" for p in before if before[p] != after[p])


def test_subjects():
    assert parse_raw_subject("raw.7.e4-07.bvp") == (7, "e4-07", "bvp")
    assert raw_transform(16) == "raw.{{partition(16,1)}}.{{wildcard(1)}}.{{wildcard(2)}}"
