"""UPS drivers: SNMP (UPS-MIB, PowerNet), traps and NUT, normalised to one ``UpsReading``."""
