"""``python -m wormfs.storage_node``: the node's start path, the same as ``wormfs storage-node``.

Layer: storage node entry point. The command line, the start-up checks (config validation,
codec self-test, malloc tuning) and the secret are ``wormfs.runtime.startup``'s; this module
only names the daemon and hands over ``wormfs.storage_node.app.run``.
"""

import sys

from wormfs.runtime.startup import STORAGE_NODE, main
from wormfs.storage_node.app import run

sys.exit(main(STORAGE_NODE, run))
