"""The stack's PostgreSQL as tests read and change it: one connection per call, committed on
return. Test-only SQL: `sql` is the test's own text, `params` are bound by psycopg."""

from __future__ import annotations

from typing import Any

import psycopg


def rows(database_url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    """Every row `sql` returns, each as {column: value}."""
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        columns = [d.name for d in cur.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def table(
    database_url: str, name: str, where: str = "true", *params: object
) -> list[dict[str, Any]]:
    """The rows of table `name` that match `where` (with `params`), each as {column: value}."""
    return rows(database_url, f"SELECT * FROM {name} WHERE {where}", *params)  # noqa: S608


def one(database_url: str, sql: str, *params: object) -> Any:
    """The first column of the one row `sql` returns (a count, an id): it fails without one."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None, f"no row: {sql}"
    return row[0]


def column(database_url: str, sql: str, *params: object) -> list[Any]:
    """The first column of every row `sql` returns."""
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute(sql, params).fetchall()]


def execute(database_url: str, sql: str, *params: object) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(sql, params)
