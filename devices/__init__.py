"""Async drivers for the store's devices, one module per device class.

Drivers speak the device's real protocol and publish typed readings and
events on the in-process bus. This package imports no upper layer
(vision_core, facility, dashboards, walkout).
"""
