"""``python -m sim_devices.shelf_camera``."""

import sys

from sim_devices.shelf_camera.cli import main

sys.exit(main())
