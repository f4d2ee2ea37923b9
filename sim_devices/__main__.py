"""``python -m sim_devices``."""

import sys

from sim_devices.cli import main

sys.exit(main())
