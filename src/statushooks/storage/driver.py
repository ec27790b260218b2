"""The dispatcher's hot statements in the driver's own SQL, for SQLite and PostgreSQL alike.

Every delivery costs three statements (its lease, its attempt row, its completion). Built with
SQLAlchemy Core, each row cost ~15–20 µs of Python in SQLAlchemy's parameter and result
processing, about a fifth of the dispatcher's CPU in a drain (py-spy, ``bench drain``). Here a
statement is written once, rendered per dialect at import, and run with plain tuples through
``exec_driver_sql``; the few conversions it needs are in ``Dialect``.

A template uses ``?`` for each parameter, ``{in_ids}`` for "is in this list of ids" (one
parameter): on SQLite ``IN (SELECT value FROM json_each(?))`` (the ids as a JSON array, one
statement text for any count; the planner still looks each id up by primary key), on PostgreSQL
``= ANY($n::varchar[])`` (a list), and ``{timestamp}`` after a parameter PostgreSQL cannot type
on its own (``::timestamptz``; nothing on SQLite).

A statement over many rows takes them as **one** JSON parameter (``Dialect.rows``: an array of
arrays) and reads them with ``json_each`` / ``json_array_elements``, instead of
``executemany``: on SQLite every executed row or fetched row hands the GIL over and back, and
in the dispatcher's busy process each hand-back waited for the event loop (a completion of 100
results took 9.7 ms of wall time for 4.2 ms of work). One statement per batch is one step.
Results come back the same way: one JSON value (``json_group_array`` / ``json_agg``), read with
``Dialect.json_value``.

SQLite 3.40 parses a JSON row's text again for every ``->>``: a batch of 100 attempts (11
columns) parsed each row 11 times. Where SQLite writes many rows and reads none back (the
attempts insert, the completion update), the rows go as one multi-row ``VALUES`` list instead
(``Values``, ``Dialect.execute_values``): still one statement and one step, with no JSON.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from statushooks import exceptions
from statushooks.storage.tables import sqlite_datetime_text, sqlite_datetime_value

T = TypeVar("T")
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_PLACEHOLDER = re.compile(r"\?")
#: Rows of one ``Values`` statement at most (SQLite allows 32,766 parameters).
VALUES_ROWS = 256
#: ``Values`` row counts are rounded up to a multiple of this, with rows of NULLs: few
#: statement texts to prepare and cache.
VALUES_STEP = 16


@dataclass(frozen=True)
class Statement:
    """One statement, rendered for each dialect."""

    sqlite: str
    postgresql: str

    @classmethod
    def of(cls, template: str) -> Statement:
        """One template for both dialects."""
        return cls.each(sqlite=template, postgresql=template)

    @classmethod
    def each(cls, *, sqlite: str, postgresql: str) -> Statement:
        """A template per dialect, where their SQL differs beyond the placeholders."""
        sqlite = sqlite.replace("{in_ids}", "IN (SELECT value FROM json_each(?))")
        sqlite = sqlite.replace("{timestamp}", "")
        postgresql = postgresql.replace("{in_ids}", "= ANY(?::varchar[])")
        postgresql = postgresql.replace("{timestamp}", "::timestamptz")
        numbers = itertools.count(1)
        return cls(
            sqlite=sqlite,
            postgresql=_PLACEHOLDER.sub(lambda _: f"${next(numbers)}", postgresql),
        )


@dataclass(frozen=True)
class Values:
    """SQLite: a statement over many rows given as one ``VALUES`` list, ``{values}`` in the
    template (its columns are ``column1`` … ``column<width>``). Padding rows are all NULL: the
    statement must leave them out (``WHERE column1 IS NOT NULL``, or a join on a column)."""

    template: str
    width: int

    def text(self, rows: int) -> str:
        return _values_text(self.template, self.width, rows)


@functools.lru_cache(maxsize=64)
def _values_text(template: str, width: int, rows: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return template.replace("{values}", "VALUES " + ", ".join([row] * rows))


class Dialect:
    """Parameter and result conversions of one dialect (what SQLAlchemy's types would do)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_sqlite = name == SQLITE
        self.is_postgres = name == POSTGRESQL
        #: A JSON parameter is parsed once per statement (PostgreSQL's ``jsonb``), so a batch
        #: of rows is best sent as one JSON array; SQLite 3.40 parses a JSON row's text again
        #: for every ``->>``, so there a batch goes as a ``VALUES`` list (``Values``).
        self.parses_json_once = self.is_postgres
        #: The claim's statement picks (a ``WITH`` before the lease) before it leases: its pick
        #: parameters come first (PostgreSQL's ``_LEASE_POSTGRES`` in ``storage.queue``).
        self.picks_before_lease = self.is_postgres

    def text(self, statement: Statement) -> str:
        return statement.sqlite if self.is_sqlite else statement.postgresql

    def ids(self, values: Sequence[str]) -> Any:
        """The parameter of ``{in_ids}``."""
        return orjson.dumps(list(values)).decode() if self.is_sqlite else list(values)

    def when(self, value: datetime | None) -> Any:
        """A datetime parameter (stored as text on SQLite)."""
        return sqlite_datetime_text(value) if self.is_sqlite else value

    def json(self, value: Any) -> str:
        """A JSON column's parameter: the document's text on both."""
        return orjson.dumps(value).decode()

    def rows(self, rows: Sequence[Sequence[Any]]) -> str:
        """The one parameter of a statement over many rows: a JSON array of arrays, as text
        (datetimes converted with ``when`` first; on PostgreSQL orjson writes them RFC 3339)."""
        return orjson.dumps(rows).decode()

    def json_value(self, value: Any) -> Any:
        """A JSON value returned by a statement: text on SQLite, decoded already on PostgreSQL."""
        return orjson.loads(value) if isinstance(value, str | bytes) else value

    def datetime_of(self, value: Any) -> datetime | None:
        """A datetime column's value, aware and in UTC."""
        if self.is_sqlite:
            return sqlite_datetime_value(value)
        return None if value is None else value.astimezone(UTC)

    def execute(
        self, conn: Connection, statement: Statement, params: tuple[Any, ...]
    ) -> Sequence[Sequence[Any]]:
        """Run ``statement`` once; the rows it returns, as they come from the driver."""
        return run_on_cursor(conn, self.text(statement), params)

    def execute_many(
        self, conn: Connection, statement: Statement, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        run_on_cursor(conn, self.text(statement), list(rows), many=True)

    def execute_values(
        self, conn: Connection, statement: Values, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Run a ``Values`` statement over ``rows`` (each ``statement.width`` long): one
        statement per ``VALUES_ROWS`` of them."""
        for start in range(0, len(rows), VALUES_ROWS):
            chunk = rows[start : start + VALUES_ROWS]
            padded = -(-len(chunk) // VALUES_STEP) * VALUES_STEP
            params = list(itertools.chain.from_iterable(chunk))
            params += [None] * (statement.width * (padded - len(chunk)))
            run_on_cursor(conn, statement.text(padded), tuple(params))


def run_on_cursor(conn: Connection, text: str, params: Any, *, many: bool = False) -> Sequence[Any]:
    """Run ``text`` on a cursor of the driver's connection under ``conn`` (inside ``conn``'s
    transaction); the rows it returns.

    ``Connection.exec_driver_sql`` costs ~15–25 µs of Python per statement on top of the driver
    (its execution context and result set-up): more than SQLite's own work for the short
    statements of a request. The driver's errors become ``ConflictError`` / ``StorageError``
    as ``storage.errors`` translates SQLAlchemy's.
    """
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if not many:
            cursor.execute(text, params)
        elif len(params) == 1:  # asyncpg's executemany costs ~3× its execute for one row
            cursor.execute(text, params[0])
        else:
            cursor.executemany(text, params)
        return cursor.fetchall() if cursor.description is not None else []
    except dbapi.IntegrityError as exc:
        raise exceptions.ConflictError(f"conflicting write: {exc}") from exc
    except dbapi.Error as exc:
        # SQLAlchemy never sees this error (the statement ran on the driver's cursor), so it
        # cannot tell the pool that the connection is gone: a dropped connection (a database
        # restart) would go back to the pool and fail every transaction after it.
        if conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor):
            conn.invalidate(exc)
        raise exceptions.StorageError(f"database error: {exc}") from exc
    finally:
        with contextlib.suppress(dbapi.Error):
            cursor.close()


def memoized(convert: Callable[[Any], T]) -> Callable[[Any], T]:
    """``convert``, remembering each value's result: for the rows of one statement, which
    share timestamps (a batch is made at one ``now``)."""
    results: dict[Any, T] = {}

    def converted(value: Any) -> T:
        try:
            return results[value]
        except KeyError:
            result = results[value] = convert(value)
            return result

    return converted


SQLITE_DIALECT = Dialect(SQLITE)
POSTGRES_DIALECT = Dialect(POSTGRESQL)
_DIALECTS = {SQLITE: SQLITE_DIALECT, POSTGRESQL: POSTGRES_DIALECT}


def of(conn: Connection | AsyncConnection) -> Dialect:
    """The ``Dialect`` of a connection."""
    try:
        return _DIALECTS[conn.dialect.name]
    except KeyError:
        raise ValueError(f"no driver statements for {conn.dialect.name}") from None
