"""``python -m sim_devices.crac``."""

import sys

from sim_devices.crac.cli import main

sys.exit(main())
