"""Object version ids are never reused on SQLite either: ``objects.id`` becomes AUTOINCREMENT.

Layer: coordinator migrations. Frozen once released. A version's row id is also its file's
inode number while no inode row exists (``wormfs.wire.fs``: ino = id + 1), and an inode number
must never name a second file: the kernel of a mount may still hold the first. SQLite's plain
INTEGER PRIMARY KEY hands out max(id) + 1, so deleting the newest version (an S3 overwrite, an
unlink) gave its id, and its ino, to the next version made; with AUTOINCREMENT the ids only
grow (``sqlite_sequence``). PostgreSQL's identity never reused them: nothing to do there.

SQLite cannot add AUTOINCREMENT to a table, so the table is rebuilt by SQLite's own recipe
(create the new table, copy, drop the old, rename, re-create the indexes) with foreign keys
off for the whole upgrade (``engines.sqlite_migration``): dropping ``objects`` with foreign
keys on would cascade to every part and inline payload. The copy keeps every id; the sequence
starts above the highest.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The id column and the table-level key as SQLAlchemy wrote them in 0001's CREATE TABLE.
_ID_COLUMN = re.compile(r"\bid INTEGER NOT NULL,")
_PRIMARY_KEY = re.compile(r",\s*CONSTRAINT pk_objects PRIMARY KEY \(id\)")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding objects needs foreign keys off (engines.sqlite_migration)")
    table_sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'objects'"
    ).scalar_one()
    index_sql = list(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects' "
            "AND sql IS NOT NULL"
        ).scalars()
    )
    if autoincrement:
        new_sql, found = _ID_COLUMN.subn(
            "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", table_sql
        )
        new_sql, keys = _PRIMARY_KEY.subn("", new_sql)
        if (found, keys) != (1, 1):
            raise RuntimeError(f"unexpected objects table: {table_sql}")
    else:
        new_sql = table_sql.replace(
            "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", "id INTEGER NOT NULL,"
        )
        new_sql = re.sub(r"\)\s*$", ",\n\tCONSTRAINT pk_objects PRIMARY KEY (id)\n)", new_sql)
    new_sql = re.sub(r"^CREATE TABLE \"?objects\"?", "CREATE TABLE objects_rebuilt", new_sql)
    bind.exec_driver_sql(new_sql)
    bind.exec_driver_sql("INSERT INTO objects_rebuilt SELECT * FROM objects")
    bind.exec_driver_sql("DROP TABLE objects")
    bind.exec_driver_sql("ALTER TABLE objects_rebuilt RENAME TO objects")
    for sql in index_sql:
        bind.exec_driver_sql(sql)
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"foreign keys broken by the rebuild of objects: {problems[:5]}")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
