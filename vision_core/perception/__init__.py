"""Perception: person detector backends between camera frames and the tracker.

Modules, by job:

- ``config``: the pydantic config, detector backends discriminated on ``type``
  (``ssd_mobilenet``, ``onnx``, ``metadata``), pose and detect-every-n settings.
- ``models``: where the bundled model files are, and their pinned sha256 digests.
- ``backend``: the :class:`FrameDetector` protocol and shared box clean-up.
- ``ssd`` (SSD-MobileNet-v2 on ``cv2.dnn``), ``onnx_backend`` (ONNX Runtime),
  ``metadata`` (smart-camera passthrough): the backends.
- ``movenet``: top-down MoveNet keypoints (wrists) per detected person.
- ``pipeline``: detector + pose as one blocking call; ``runner``: that call on a
  worker thread, fed from the event loop, results published on the bus.

Importing the package loads no model and no heavy runtime.
"""
