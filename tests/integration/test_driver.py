"""storage.driver: the SQLite ``VALUES`` batches (padding, chunking) on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from statushooks.storage import driver

INSERT = (
    "INSERT INTO t (a, b, c) SELECT column1, column2, column3 FROM {values}"
    " WHERE column1 IS NOT NULL"
)
UPDATE = "UPDATE t SET c = j.column2 FROM {values} AS j WHERE t.a = j.column1"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sa.Connection]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c REAL)")
        yield connection
    engine.dispose()


@pytest.mark.parametrize("count", [0, 1, driver.VALUES_BUCKET, driver.VALUES_BUCKET + 1, 11_000])
def test_execute_values_inserts_every_row_and_no_padding(conn: sa.Connection, count: int) -> None:
    rows = [(i, f"row {i}", i / 2) for i in range(1, count + 1)]  # 11,000 rows: several chunks

    driver.execute_values(conn, INSERT, rows)

    stored = conn.exec_driver_sql("SELECT a, b, c FROM t ORDER BY a").all()
    assert [tuple(row) for row in stored] == rows


def test_execute_values_updates_only_the_rows_given(conn: sa.Connection) -> None:
    driver.execute_values(conn, INSERT, [(i, None, 0.0) for i in range(1, 41)])

    driver.execute_values(conn, UPDATE, [(i, float(i)) for i in range(1, 34)])

    stored = dict(conn.exec_driver_sql("SELECT a, c FROM t").all())
    assert stored == {i: float(i) if i <= 33 else 0.0 for i in range(1, 41)}
