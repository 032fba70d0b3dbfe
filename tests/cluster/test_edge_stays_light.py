"""The plain daemon (no [cluster]) never imports the NATS client."""

from __future__ import annotations

import subprocess
import sys


def test_the_plain_daemon_does_not_import_nats(tmp_path):
    code = (
        "import sys\n"
        "from affectstream.stream.config import parse_config\n"
        "from affectstream.stream.daemon import Daemon\n"
        "import affectstream.tools.cli, affectstream.tools.run_cmd\n"
        "cfg = parse_config({'state_dir': 'none', 'source': [{'kind': 'mqtt'}]})\n"
        "Daemon(cfg)\n"
        "bad = sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.'))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
