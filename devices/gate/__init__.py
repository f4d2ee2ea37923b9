"""Entry and exit gates: OSDP and Modbus digital-I/O controllers behind one ``GateIo``."""
