"""``python -m sim_devices.store_sim``."""

import sys

from sim_devices.store_sim.cli import main

sys.exit(main())
