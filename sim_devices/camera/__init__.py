"""Camera simulators: an MJPEG-over-HTTP camera and a smart camera's MQTT metadata.

Both come from one simulated store floor (shelves and walking people) seen
through a known homography, so what the camera shows and what the smart
camera reports agree, and both can be scored against the ground truth.
Run it with ``python -m sim_devices.camera serve``.
"""
