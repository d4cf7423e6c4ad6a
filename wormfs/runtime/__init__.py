"""Process runtime: how a WormFS daemon starts, serves and stops.

Layer: above the shared code (config, clients, data plane), below the components, which call
it to start and serve, and the CLI. ``startup`` is the one start path of every daemon (its
command line and the start-up checks), ``bootstrap`` logging, uvloop, serving an app with a
ready file and a clean stop; ``malloc`` the allocator tuning; ``tls`` the HTTPS server
context; ``supervisor`` the single-machine cluster of child processes behind ``wormfs server``.
"""
