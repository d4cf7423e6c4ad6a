"""``python -m wormfs.cli``: the ``wormfs`` command (the supervisor starts its children so)."""

import sys

from wormfs.cli.main import main

sys.exit(main())
