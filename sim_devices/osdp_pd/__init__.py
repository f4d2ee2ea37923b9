"""Simulated OSDP door controllers (PDs) on a pty, speaking through libosdp.

Reader (cards, keypad), lock relay with timers and a fail-safe watchdog,
passage sensor, tamper, LED and buzzer; faults and a JSON-lines control API.
``python -m sim_devices.osdp_pd serve`` runs it as a process.
"""
