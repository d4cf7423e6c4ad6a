"""The ``wormfs`` command line: the top layer, above every component.

Contract: ``main`` (the console script ``wormfs``, or ``python -m wormfs.cli``) parses one
subcommand and hands over; ``admin`` and ``admin_durability`` are ``wormfs admin``, a client of
the coordinator's admin API. Nothing imports this package.
"""
