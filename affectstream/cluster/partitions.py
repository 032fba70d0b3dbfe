"""Which worker owns which partition: rendezvous (highest random weight) hashing over the live
members, and the subjects of the RAW stream.

Raw samples arrive (through NATS's MQTT gateway) on ``affectstream.<device>.raw.<modality>``;
RAW's subject transform files them as ``raw.<partition>.<device>.<modality>``, the partition
being ``{{partition(P,1)}}`` of the device token, so all of a device's modalities share one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: Raw subjects as the MQTT gateway writes them (MQTT ``affectstream/+/raw/+``).
RAW_INGEST = "affectstream.*.raw.*"
#: Predictions as the workers publish them (stream EMOTION).
EMOTION_SUBJECTS = "emotion.*"
#: Where EMOTION republishes each stored prediction, for MQTT ``affectstream/<device>/emotion``.
EMOTION_REPUBLISH = "affectstream.{{wildcard(1)}}.emotion"


def raw_transform(partitions: int) -> str:
    """RAW's subject transform destination for ``partitions`` (P) partitions."""
    return f"raw.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"


def partition_filter(p: int) -> str:
    """The subject filter of partition ``p``'s consumer."""
    return f"raw.{p}.>"


def device_filter(device: str) -> str:
    """The subject filter of one device's raw messages (any partition, any modality)."""
    return f"raw.*.{device}.*"


def consumer_name(p: int) -> str:
    """The durable consumer of partition ``p``."""
    return f"affectstream-p{p}"


def parse_raw_subject(subject: str) -> tuple[int, str, str]:
    """``(partition, device, modality)`` of a RAW subject.

    Raises
    ------
    ValueError
        For a subject that is not ``raw.<p>.<device>.<modality>``.
    """
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != "raw" or not parts[1].isdigit():
        raise ValueError(f"subject {subject!r} is not raw.<partition>.<device>.<modality>")
    return int(parts[1]), parts[2], parts[3]


def weight(member: str, p: int) -> int:
    """The rendezvous weight of ``member`` for partition ``p`` (64 bits of BLAKE2b)."""
    h = hashlib.blake2b(f"{member}\x00{p}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def owner(p: int, members: Iterable[str]) -> str | None:
    """The member that owns partition ``p`` (None without members)."""
    best: tuple[int, str] | None = None
    for m in members:
        w = (weight(m, p), m)
        if best is None or w > best:
            best = w
    return None if best is None else best[1]


def assignment(partitions: int, members: Iterable[str]) -> dict[int, str]:
    """Partition -> owner for every partition (empty without members).

    When a member joins it takes about ``1/n`` of the partitions, each from whoever had it;
    when one leaves only its partitions move.
    """
    ms = sorted(set(members))
    if not ms:
        return {}
    return {p: owner(p, ms) or ms[0] for p in range(partitions)}
