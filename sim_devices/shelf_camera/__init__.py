"""A simulated shelf camera: a product recogniser over one shelf, publishing over MQTT.

It speaks walkout's shelf-camera products schema to a real broker, driven
by a script of hand movements or by its control port, with a seeded
accuracy and miss model and link faults (silence, garbage, payloads outside
the schema, oversize ones). Run it with ``python -m sim_devices.shelf_camera serve``.
"""
