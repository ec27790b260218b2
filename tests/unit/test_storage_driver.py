from __future__ import annotations

from datetime import UTC, datetime

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
