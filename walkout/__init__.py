"""walkout: the edge software of a grab-and-go store (application wiring and CLI)."""

__version__ = "0.1.0"
