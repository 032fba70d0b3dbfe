"""Device ids: what one may look like, checked the same way for every source.

A device id names the device's MQTT topic level, its LSL streams' ``device`` and its saved
state file, so it is kept to 1-64 characters of ``A-Z a-z 0-9 . _ -`` and may not be only dots.
"""

from __future__ import annotations

import re

#: Allowed device ids (one MQTT topic level, a safe file name).
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: What an allowed id is, for messages.
DEVICE_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ - (not only dots)"


def device_id_problem(device: str) -> str | None:
    """Why ``device`` is not an allowed device id, or None when it is."""
    if not isinstance(device, str) or not DEVICE_ID_RE.match(device):
        shown = device if not isinstance(device, str) or len(device) <= 80 else device[:77] + "..."
        return f"device id {shown!r} must be {DEVICE_ID_RULE}"
    if set(device) == {"."}:
        return f"device id {device!r} must be {DEVICE_ID_RULE}"
    return None
