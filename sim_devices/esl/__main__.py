"""``python -m sim_devices.esl``: see :mod:`sim_devices.esl.cli`."""

import sys

from sim_devices.esl.cli import main

sys.exit(main())
