"""``python -m sim_devices.osdp_pd``."""

import sys

from sim_devices.osdp_pd.cli import main

sys.exit(main())
