"""The coordinator's metadata database: schema, the one door, statements by aggregate.

Layer: inside the coordinator component, below the HTTP handlers and background tasks, which
use only ``repo.Repository``. Repositories speak wire structs and domain errors; SQLAlchemy
never leaks above this package. Inside, from the bottom:

    models      the schema, declared for Alembic and the migration test (no ORM queries)
    tables      the same tables as Core ``Table``s, for statements
    engines     connecting, PRAGMAs, migrations, what a driver error means
    tx          ``Tx``: one transaction's statements, rows read by column name
    lanes       SQLite: batched reader/writer threads, group commit
    database    ``Database.read(fn)`` / ``write(fn)``: the one door (gate, fencing, retries)
    convert     row mappers and shared look-ups; liveness: the node-live / disk-usable rule
    versions, manifests, writes, objects   object versions, manifests, write intents
    uploads, listing, buckets, identity, cluster, gc, care, repair(_rows)   the other aggregates
"""
