"""The coordinator's metadata database: models, engine set-up, migrations, repositories.

Layer: inside the coordinator component, below the HTTP handlers. Repositories speak wire
structs and domain errors; SQLAlchemy never leaks above this package.
"""
