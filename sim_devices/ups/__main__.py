"""``python -m sim_devices.ups``: see :mod:`sim_devices.ups.cli`."""

import sys

from sim_devices.ups.cli import main

sys.exit(main())
