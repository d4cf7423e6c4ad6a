"""``python -m wormfs.coordinator``: its start path, the same as ``wormfs coordinator``.

Layer: coordinator entry point. The command line, the start-up checks (config validation,
codec self-test, malloc tuning) and the secret are ``wormfs.runtime.startup``'s; this module
only names the daemon and hands over ``wormfs.coordinator.app.run``.
"""

import sys

from wormfs.coordinator.app import run
from wormfs.runtime.startup import COORDINATOR, main

sys.exit(main(COORDINATOR, run))
