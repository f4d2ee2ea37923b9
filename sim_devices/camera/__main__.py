"""``python -m sim_devices.camera``."""

import sys

from sim_devices.camera.cli import main

sys.exit(main())
