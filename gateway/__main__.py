"""``python -m wormfs.gateway``: the gateway's start path, the same as ``wormfs gateway``.

Layer: gateway entry point. The command line, the start-up checks (config validation, codec
self-test, malloc tuning) and the secret are ``wormfs.runtime.startup``'s; this module only
names the daemon and hands over ``wormfs.gateway.app.run``.
"""

import sys

from wormfs.gateway.app import run
from wormfs.runtime.startup import GATEWAY, main

sys.exit(main(GATEWAY, run))
