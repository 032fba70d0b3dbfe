"""``python -m affectstream`` runs the command line."""

from __future__ import annotations

import sys

from affectstream.tools.cli import main

sys.exit(main())
