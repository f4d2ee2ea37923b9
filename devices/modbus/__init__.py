"""Modbus TCP and RTU: links (transport), register codecs and read planning."""
