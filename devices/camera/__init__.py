"""Cameras: frame sources, smart-camera metadata, image health, floor geometry.

Modules, by job:

- ``frame``: the :class:`~devices.camera.frame.Frame` every source yields.
- ``source``: the frame-source base (queue, fps cap, reconnect, health).
- ``mjpeg`` (HTTP ``multipart/x-mixed-replace``), ``capture`` (RTSP and any
  FFmpeg URL, video files): the concrete sources; ``factory`` picks one for
  a :class:`~devices.camera.config.CameraConfig`.
- ``multipart``: the sans-IO multipart parser the MJPEG source feeds.
- ``decode``, ``worker``: JPEG decoding and the threads that keep it off the
  event loop.
- ``quality``: stalled / low-fps / black / frozen checks and the
  ``CameraStatus`` message.
- ``ring``: the in-memory ring of recent frames and the local frame archive,
  the only way a frame leaves the process.
- ``detection``, ``metadata``: person detections, from smart cameras over
  MQTT or from the vision core's own detector.
- ``products``: shelf cameras' product sightings over MQTT (what a hand
  took or put back), for the checkout's same-weight ties.
- ``subscriber``: the MQTT subscription, reconnect and bad-payload
  accounting that ``metadata`` and ``products`` share.
- ``config``, ``floor``: per-camera configuration, floor homographies,
  projection to floor metres and the floor-grid overlay.

This package imports nothing heavy on its own, so ``devices.camera.detection``
can be used without pulling in OpenCV or aiohttp.
"""
