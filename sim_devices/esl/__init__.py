"""Electronic shelf label simulators: an OpenEPaperLink access point and MQTT tags.

Both speak their protocol from its own source of truth (the AP firmware for
the HTTP/WebSocket API, walkout's topic table for MQTT), not from the
drivers in ``devices.esl``. Run them with ``python -m sim_devices.esl serve``.
"""
