"""The [cluster] section: defaults, errors that name the key, no sources needed."""

from __future__ import annotations

import pytest

from affectstream.cluster.config import ClusterConfig, parse_cluster
from affectstream.stream.config import ConfigError, parse_config


def test_a_cluster_section_makes_a_worker_config_without_sources():
    cfg = parse_config({"hop_s": 5, "cluster": {"url": "nats://h:4222", "partitions": 1024}})
    assert cfg.cluster is not None
    cc = parse_cluster(cfg.cluster)
    assert isinstance(cc, ClusterConfig)
    assert cc.partitions == 1024 and cc.url == "nats://h:4222"
    assert cfg.sources == [] and cfg.sinks == []
    assert parse_config({"source": [{"kind": "mqtt"}]}).cluster is None


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"partitions": 0}, "cluster.partitions"),
        ({"partitions": "16"}, "cluster.partitions"),
        ({"member_ttl_s": -1}, "cluster.member_ttl_s"),
        ({"pin_ttl_s": True}, "cluster.pin_ttl_s"),
        ({"replicas": 2}, "cluster.replicas"),
        ({"raw_stream": "a.b"}, "cluster.raw_stream"),
        ({"name": "w 1"}, "cluster.name"),
        ({"colour": "red"}, "cluster.colour"),
    ],
)
def test_bad_values_name_their_key(table, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_cluster(table)


def test_run_check_validates_the_cluster_section(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text("[cluster]\npartitions = 0\n")
    out = subprocess.run(
        [sys.executable, "-m", "affectstream", "run", "--config", str(bad), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "cluster.partitions" in out.stderr


def test_sources_and_sinks_are_refused_beside_a_cluster():
    with pytest.raises(ConfigError, match="cluster"):
        parse_config({"cluster": {}, "source": [{"kind": "mqtt"}]})


def test_ints_are_accepted_for_seconds():
    assert parse_cluster({"ack_wait_s": 30}).ack_wait_s == 30.0


def test_the_readme_worker_config_parses():
    import re
    import tomllib

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    start = text.index("## Running on many machines\n")
    block = re.search(r"```toml\n(.*?)```", text[start:], re.S)
    assert block is not None
    cfg = parse_config(tomllib.loads(block.group(1)))
    assert cfg.cluster is not None
    cc = parse_cluster(cfg.cluster)
    assert cc.partitions == 1024 and cc.replicas == 3
