"""``python -m sim_devices.dio``."""

import sys

from sim_devices.dio.cli import main

sys.exit(main())
