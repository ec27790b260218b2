from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from statushooks.storage import driver


def test_memoized_converts_each_distinct_value_once() -> None:
    seen: list[object] = []

    def convert(value: object) -> str:
        seen.append(value)
        return f"<{value}>"

    when = driver.memoized(convert)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert [when(now), when(None), when(now), when(None), when(1)] == [
        f"<{now}>",
        "<None>",
        f"<{now}>",
        "<None>",
        "<1>",
    ]
    assert seen == [now, None, 1]


def test_statements_number_postgresql_placeholders_and_render_id_lists() -> None:
    statement = driver.Statement.of("SELECT ? FROM t WHERE a = ? AND id {in_ids}")
    assert (
        statement.sqlite == "SELECT ? FROM t WHERE a = ? AND id IN (SELECT value FROM json_each(?))"
    )
    assert statement.postgresql == "SELECT $1 FROM t WHERE a = $2 AND id = ANY($3::varchar[])"


_INSERT = driver.Values(
    "INSERT INTO t (id, n) SELECT column1, column2 FROM ({values}) WHERE column1 IS NOT NULL",
    width=2,
)
_UPDATE = driver.Values(
    "UPDATE t SET n = j.column2 FROM ({values}) AS j WHERE t.id = j.column1", width=2
)


def _table() -> sa.Connection:
    conn = sa.create_engine("sqlite://").connect()
    conn.exec_driver_sql("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)")
    return conn


@pytest.mark.parametrize("count", [0, 1, 16, 17, driver.VALUES_ROWS + 5])
def test_values_statements_write_every_row_once_and_no_padding(count: int) -> None:
    db = driver.Dialect(driver.SQLITE)
    with _table() as conn:
        db.execute_values(conn, _INSERT, [(f"r{i}", i) for i in range(count)])
        db.execute_values(conn, _UPDATE, [(f"r{i}", -i) for i in range(0, count, 2)])
        rows = conn.exec_driver_sql("SELECT id, n FROM t ORDER BY n").all()
    expected = {(f"r{i}", -i if i % 2 == 0 else i) for i in range(count)}
    assert set(map(tuple, rows)) == expected
    assert len(rows) == count


def test_values_statement_texts_come_in_padded_sizes() -> None:
    text = _INSERT.text(driver.VALUES_STEP)
    assert text.count("(?, ?)") == driver.VALUES_STEP
    assert _INSERT.text(driver.VALUES_STEP) is text  # built once
