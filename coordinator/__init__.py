"""The coordinator component (installed as ``wormfs.coordinator``): the metadata master.

Layer: a component; it imports only ``wormfs`` shared code, never another component. It owns
the metadata database (``db``: models, repositories, Alembic migrations), placement, the node
registry and the background jobs (liveness, garbage collection), and serves the coordinator
API of ``wormfs.wire.coordinator`` (``app``, with ``run``; ``__main__`` starts it through
``wormfs.runtime.startup`` like every daemon).
"""
