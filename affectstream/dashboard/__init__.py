"""The live dashboard: a small web server (aiohttp, the ``dashboard`` extra) that shows every
device's prediction, quality and calibration state, pushed to the page as server-sent events.

Nothing here is imported by the daemon or the edge runtime: only ``affectstream dashboard`` and
``affectstream demo --dashboard`` load it.

- :mod:`~affectstream.dashboard.state`: what the page shows, kept per device (no web code);
- :mod:`~affectstream.dashboard.model_info`: the bundle's classes, window and decision threshold;
- :mod:`~affectstream.dashboard.mqtt_feed`: prediction and raw topics into the state;
- :mod:`~affectstream.dashboard.server`: the aiohttp application (page, JSON, SSE);
- :mod:`~affectstream.dashboard.replay_feed`: the bundled replay fed in-process (the demo).
"""
