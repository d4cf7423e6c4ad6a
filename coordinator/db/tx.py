"""``Tx``: the statements of one transaction, as a repository operation sees them.

Layer: coordinator database package, between ``Database`` (which opens the transaction and
hands a ``Tx`` to the operation) and the aggregate modules (whose operations are synchronous
functions ``fn(tx)``). Contract:

* statements are SQLAlchemy Core constructs over ``tables`` with named bind parameters
  (``bindparam("bucket")``), passed with a mapping of values; SQLAlchemy renders each for the
  engine's dialect;
* rows come back read by column name (``row.etag``), typed by the column (JSON decoded,
  booleans as ``bool``) on both engines;
* ``run`` answers the number of rows a DML statement touched; ``run_many`` executes one DML
  statement for many parameter sets in one driver call (``executemany``);
* driver errors reach the caller as SQLAlchemy's ``DBAPIError`` subclasses, exactly as from
  ``Connection.execute``, so ``engines`` tells their meaning in one place.

How a statement runs. SQLAlchemy's per-execution bookkeeping (cache-key walk, execution
context, events, result metadata) costs two to three times what SQLite itself spends on a
one-row indexed query, and the request path is made of such queries. So a statement is
*prepared* once per dialect — compiled by SQLAlchemy, with its parameter order, the bind and
result processors of its columns' types (``TypeEngine.bind_processor`` /
``result_processor``, the same SQLAlchemy would apply, except that SQLite's JSON text is
decoded by msgspec rather than ``json.loads``, to the same values, several times faster) and a
row class named after its columns — and then executed on the driver's cursor of the
transaction's own connection.
An expanding ``IN`` list's SQL depends on the list's length, so such a statement is rendered
by SQLAlchemy once per combination of lengths and kept so. What preparation cannot pin down
runs through ``Connection.execute`` instead, with the same results: ``IN`` lists of tuples,
INSERTs that need Python-side column defaults, textual SQL, DML with an expanding list run for
many parameter sets, and statements whose column names are not unique identifiers.

A ``Tx`` lives as long as its transaction and only on the thread (SQLite) or greenlet
(PostgreSQL) that runs the operation; nothing may keep it after ``fn`` returns.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Executable, Insert, Select
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None
_Slot = tuple[str, int, Processor]  # a positional value: parameter, index in its list or -1
# A row, read by column name: a named tuple for prepared statements, SQLAlchemy's ``Row`` for
# the others. Typed loosely on purpose: its attributes are the statement's column names.
Row = Any

_decode_json = msgspec.json.decode
_encode_json = msgspec.json.encode
PREPARED_MAX = 4096  # statements kept prepared per dialect (ours are a few hundred)


class _Prepared:
    """One statement compiled for one dialect, ready for the driver's cursor."""

    __slots__ = (
        "binds",
        "columns",
        "compiled",
        "converters",
        "dialect",
        "expanding",
        "expansions",
        "from_params",
        "procs",
        "row",
        "sql",
    )

    def __init__(
        self,
        compiled: Any,
        binds: tuple[tuple[str, Processor], ...],
        row: Any,
        columns: Any,
        dialect: Dialect,
    ) -> None:
        self.compiled = compiled
        self.sql = str(compiled)
        self.binds = binds
        self.row = row
        self.columns = columns
        self.dialect = dialect
        # The expanding parameters (``IN`` lists): their SQL depends on the lists' lengths, so
        # each combination of lengths gets its SQL and value slots, rendered by SQLAlchemy
        # once (``expansions``; None: one SQLAlchemy cannot give slots for, e.g. tuples).
        self.expanding = tuple(compiled.bind_names[b] for b in compiled.post_compile_params)
        self.expansions: dict[tuple[int, ...], tuple[str, tuple[_Slot, ...]] | None] = {}
        self.procs: tuple[Processor, ...] | None = None  # known at the first result
        # (column index, processor) of the columns that have one, in order
        self.converters: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
        # Whether every parameter is a plain named one taken from the caller's mapping, so
        # that the values need not go through construct_params (values the statement carries
        # itself, and bind names SQLAlchemy renamed, do).
        self.from_params = all(
            compiled.binds[name].key == name
            and compiled.binds[name].required
            and compiled.binds[name].callable is None
            for name, _ in binds
        )

    def bound(self, params: Params | None) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL and its positional values for ``params`` (None: run it through SQLAlchemy)."""
        if not self.expanding:
            return self.sql, self.parameters(params)
        if params is None or not all(
            isinstance(params.get(n), list | tuple) for n in self.expanding
        ):
            return None
        lengths = tuple(len(params[n]) for n in self.expanding)
        if lengths not in self.expansions:
            if len(self.expansions) >= PREPARED_MAX:
                self.expansions.clear()
            self.expansions[lengths] = self._expand(params)
        plan = self.expansions[lengths]
        if plan is None:
            return None
        sql, slots = plan
        values = self.compiled.construct_params(params)
        return sql, tuple(
            (values[name] if index < 0 else values[name][index])
            if proc is None
            else proc(values[name] if index < 0 else values[name][index])
            for name, index, proc in slots
        )

    def _expand(self, params: Params) -> tuple[str, tuple[_Slot, ...]] | None:
        state = self.compiled.construct_expanded_state(params)
        where: dict[str, tuple[str, int]] = {}
        for name, expanded in state.parameter_expansion.items():
            if len(expanded) != len(params[name]):  # not one value per element (tuples)
                return None
            for index, one in enumerate(expanded):
                where[one] = (name, index)
        slots = tuple(
            (*where.get(one, (one, -1)), state.processors.get(one))
            for one in state.positiontup or ()
        )
        return state.statement, slots

    def parameters(self, params: Params | None) -> tuple[Any, ...]:
        if self.from_params and params is not None:
            try:
                return tuple(
                    params[name] if proc is None else proc(params[name])
                    for name, proc in self.binds
                )
            except KeyError:
                pass  # a missing value: construct_params names it in its error
        # construct_params fills in the values the statement carries itself (literals in it).
        values = self.compiled.construct_params(params or {})
        return tuple(
            proc(values[name]) if proc is not None else values[name] for name, proc in self.binds
        )

    def result_processors(self, description: Sequence[Sequence[Any]] | None) -> None:
        """Each column's result processor, given the driver's type codes (some types, as
        numbers on asyncpg, pick their conversion by the type the server sent)."""
        if self.columns is None or description is None:
            self.procs = ()
            return
        self.procs = tuple(
            _result_processor(c.type.dialect_impl(self.dialect), self.dialect, d[1])
            for c, d in zip(self.columns, description, strict=True)
        )
        self.converters = tuple((i, p) for i, p in enumerate(self.procs) if p is not None)

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[Any]:
        make, converters = self.row._make, self.converters
        assert self.procs is not None  # result_processors ran
        if not converters:
            return list(map(make, fetched))
        out = []
        for r in fetched:
            values = list(r)
            for i, p in converters:
                values[i] = p(values[i])
            out.append(make(values))
        return out


def _json_text(value: Any) -> Any:
    """A SQLite JSON column's value, decoded as SQLAlchemy's processor for it does (None stays
    None, a number SQLite returned as a number stays one), by msgspec: ``json.loads`` costs
    about 1.8 us for ``{}``, msgspec 0.2 us, and a manifest has three such columns."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        return _decode_json(value)
    except msgspec.DecodeError:  # what only the json module reads (NaN, Infinity)
        return json.loads(value)


def _bind_processor(impl: Any, dialect: Dialect) -> Processor:
    """The bind processor SQLAlchemy would apply to a parameter of type ``impl``, with values
    for SQLite's JSON columns encoded by msgspec: ``json.dumps`` costs about 8 us for a
    segment's placements, msgspec 0.6 us, and every commit writes several such columns.
    None is handled as SQLAlchemy's processor handles it (SQL NULL only where the column says
    ``none_as_null``, else the JSON ``null``). No column holds a NaN, which msgspec would
    write as ``null``."""
    processor: Processor = impl.bind_processor(dialect)
    if (
        processor is None
        or dialect.name != "sqlite"
        or not isinstance(impl, sqltypes.JSON)
        or getattr(dialect, "_json_serializer", None) is not None  # configured otherwise
    ):
        return processor
    null, none_as_null = impl.NULL, impl.none_as_null

    def encode(value: Any) -> Any:
        if value is null:
            value = None
        elif value is None and none_as_null:
            return None
        elif not isinstance(value, dict | list | str | int | float | bool | None):
            return processor(value)  # SQL constructs and the like: as SQLAlchemy does
        return _encode_json(value).decode()

    return encode


def _result_processor(impl: Any, dialect: Dialect, coltype: Any) -> Processor:
    """The result processor SQLAlchemy would apply to a column of type ``impl`` (its dialect
    implementation), with SQLite's JSON columns decoded by ``_json_text``."""
    processor: Processor = impl.result_processor(dialect, coltype)
    if (
        processor is not None
        and dialect.name == "sqlite"
        and isinstance(impl, sqltypes.JSON)
        and getattr(dialect, "_json_deserializer", None) is None  # not configured otherwise
    ):
        return _json_text
    return processor


def _columns(statement: Any) -> Any:
    if isinstance(statement, Select):
        return statement.selected_columns
    if isinstance(statement, UpdateBase) and statement._returning:
        return statement.exported_columns
    return None


def _prepare(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared | None:
    """``statement`` prepared for ``dialect``, or None if it must run through SQLAlchemy."""
    if not isinstance(statement, Select | UpdateBase):
        return None
    column_keys = list(keys) if isinstance(statement, Insert) and not statement._values else None
    compiled = statement.compile(dialect=dialect, column_keys=column_keys)
    if (
        not compiled.positional
        or not all(b.expanding and not b.literal_execute for b in compiled.post_compile_params)
        or compiled.literal_execute_params
        or getattr(compiled, "insert_prefetch", None)
        or getattr(compiled, "update_prefetch", None)
    ):
        return None
    binds = tuple(
        (name, _bind_processor(compiled.binds[name].type.dialect_impl(dialect), dialect))
        for name in compiled.positiontup or ()
    )
    columns = _columns(statement)
    names: list[str] = [] if columns is None else list(columns.keys())
    if len(set(names)) != len(names) or not all(n.isidentifier() and n[0] != "_" for n in names):
        return None
    return _Prepared(compiled, binds, namedtuple("Row", names), columns, dialect)


class Tx:
    """One transaction's statements (see the module docstring)."""

    __slots__ = ("_con", "_dbapi_error", "_dialect", "_driver", "_prepared", "dialect")

    def __init__(self, connection: Connection, prepared: dict[Any, Any] | None = None) -> None:
        self._con = connection
        # The driver's own connection (sqlite3's, or asyncpg's adapted), under the pool's.
        self._driver: Any = connection.connection.dbapi_connection
        self._dialect = connection.dialect
        self.dialect: str = connection.dialect.name
        self._dbapi_error = connection.dialect.loaded_dbapi.Error
        # Kept by whoever runs transactions on this engine (one per dialect), so that a
        # statement is prepared once per process, not once per transaction.
        self._prepared: dict[Any, Any] = {} if prepared is None else prepared

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def _lookup(self, statement: Any, params: Params | None) -> _Prepared | None:
        keys = tuple(params) if isinstance(statement, Insert) and params else ()
        slot = (id(statement), keys)
        entry = self._prepared.get(slot)
        if entry is None or entry[0] is not statement:
            if len(self._prepared) >= PREPARED_MAX:
                self._prepared.clear()  # statements built per call: never let them pile up
            # The statement is kept with its preparation: its id stays its own.
            entry = (statement, _prepare(statement, self._dialect, keys))
            self._prepared[slot] = entry
        prepared: _Prepared | None = entry[1]
        return prepared

    def _failed(self, exc: Any, cursor: Any, sql: str, values: Any) -> Exception:
        """A driver error as ``Connection.execute`` would raise it (a lost connection is
        invalidated, so the pool does not hand it out again)."""
        lost = bool(self._dialect.is_disconnect(exc, self._driver, cursor))
        if lost:
            self._con.invalidate(exc)
        error: Exception = DBAPIError.instance(
            sql, values, exc, self._dbapi_error, connection_invalidated=lost, dialect=self._dialect
        )
        return error

    def _cursor(self, sql: str, values: tuple[Any, ...]) -> Any:
        cursor = self._driver.cursor()
        try:
            cursor.execute(sql, values)
        except self._dbapi_error as exc:
            error = self._failed(exc, cursor, sql, values)
            cursor.close()
            raise error from exc
        return cursor

    def _fetch(self, statement: Any, params: Params | None) -> list[Row]:
        prepared = self._lookup(statement, params)
        bound = None if prepared is None else prepared.bound(params)
        if prepared is None or bound is None:
            return list(self._con.execute(statement, params).all())
        cursor = self._cursor(*bound)
        try:
            if prepared.procs is None:
                prepared.result_processors(cursor.description)
            return prepared.rows(cursor.fetchall())
        finally:
            cursor.close()

    def one(self, statement: Executable, params: Params | None = None) -> Row | None:
        """The first row, or None."""
        rows = self._fetch(statement, params)
        return rows[0] if rows else None

    def all(self, statement: Executable, params: Params | None = None) -> list[Row]:
        return self._fetch(statement, params)

    def scalar(self, statement: Executable, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        rows = self._fetch(statement, params)
        return rows[0][0] if rows else None

    def scalars(self, statement: Executable, params: Params | None = None) -> list[Any]:
        """The first column of every row."""
        return [r[0] for r in self._fetch(statement, params)]

    def run(self, statement: Executable, params: Params | None = None) -> int:
        """Execute a DML statement; the number of rows it matched."""
        prepared = self._lookup(statement, params)
        bound = None if prepared is None else prepared.bound(params)
        if prepared is None or bound is None:
            return int(self._con.execute(statement, params).rowcount)
        cursor = self._cursor(*bound)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run_many(self, statement: Executable, rows: Sequence[Params]) -> None:
        """One DML statement for every parameter set in ``rows`` (nothing when empty)."""
        if not rows:
            return
        prepared = self._lookup(statement, rows[0])
        if prepared is None or prepared.expanding:  # the SQL would differ from row to row
            self._con.execute(statement, list(rows))
            return
        values = [prepared.parameters(r) for r in rows]
        cursor = self._driver.cursor()
        try:
            cursor.executemany(prepared.sql, values)
        except self._dbapi_error as exc:
            raise self._failed(exc, cursor, prepared.sql, values) from exc
        finally:
            cursor.close()

    def driver_sql(self, sql: str) -> None:
        """A statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT ...), straight on
        the driver's connection; its errors as from ``Connection.execute``."""
        cursor = self._driver.cursor()
        try:
            cursor.execute(sql)
        except self._dbapi_error as exc:
            raise self._failed(exc, cursor, sql, ()) from exc
        finally:
            cursor.close()

    @property
    def in_driver_transaction(self) -> bool:
        """Whether the driver's connection is inside a transaction (SQLite)."""
        return bool(self._driver.in_transaction)
