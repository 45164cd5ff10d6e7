"""SqlQuery and SqlWrite against a real SQLite file and a real Postgres."""

from __future__ import annotations

import json

import pytest

from prerequisites import need_module
from support import run_watched
from taskloom import TaskGraph, TaskGraphRunner, from_code, to_code
from taskloom.errors import FileAccessError, SqlError
from taskloom.tasks.sql import SqlQuery, SqlWrite

sqlite3 = need_module("sqlite3", "this Python has no sqlite3 (Pyodide ships it as a package)")

INJECTION = "x'); DROP TABLE people; --"


async def run_one(task, root=None):
    services = {"file_root": str(root)} if root is not None else {}
    return (await TaskGraphRunner(TaskGraph([task]), services=services).run())[task.id]


@pytest.fixture
def sqlite_db(tmp_path):
    connection = sqlite3.connect(tmp_path / "people.db")
    connection.execute("CREATE TABLE people (name TEXT NOT NULL UNIQUE, age INTEGER, "
                       "photo BLOB)")
    connection.executemany("INSERT INTO people VALUES (?, ?, ?)",
                           [(f"p{i:02}", i, None) for i in range(30)])
    connection.commit()
    connection.close()
    return tmp_path


def rows_in(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT name, age FROM people ORDER BY name").fetchall()
    finally:
        connection.close()


# -- SQLite -------------------------------------------------------------------------


async def test_sqlite_query_with_parameters_and_a_row_limit(sqlite_db):
    out = await run_one(SqlQuery(id="q", defaults={
        "database": "sqlite:people.db", "query": "SELECT name, age FROM people "
        "WHERE age >= ? ORDER BY age", "params": [10], "max_rows": 5}), sqlite_db)
    assert out["columns"] == ["name", "age"]
    assert out["rows"] == [{"name": f"p{i}", "age": i} for i in range(10, 15)]
    assert out["truncated"] is True
    out = await run_one(SqlQuery(id="q", defaults={
        "database": "sqlite:people.db", "query": "SELECT count(*) AS n FROM people "
        "WHERE name = :name", "params": {"name": "p03"}}), sqlite_db)
    assert out == {"columns": ["n"], "rows": [{"n": 1}], "truncated": False}


async def test_sqlite_parameters_never_become_sql(sqlite_db):
    await run_one(SqlWrite(id="w", defaults={
        "database": "sqlite:people.db", "statement": "INSERT INTO people (name) VALUES (?)",
        "params": [INJECTION]}), sqlite_db)
    out = await run_one(SqlQuery(id="q", defaults={
        "database": "sqlite:people.db", "query": "SELECT name FROM people WHERE name = ?",
        "params": [INJECTION]}), sqlite_db)
    assert out["rows"] == [{"name": INJECTION}]
    assert len(rows_in(sqlite_db / "people.db")) == 31  # the table is still there


async def test_sqlite_refuses_two_statements_in_one(sqlite_db):
    with pytest.raises(SqlError, match="one statement"):
        await run_one(SqlWrite(id="w", defaults={
            "database": "sqlite:people.db",
            "statement": "DELETE FROM people WHERE age = ?; DROP TABLE people",
            "params": [1]}), sqlite_db)
    assert len(rows_in(sqlite_db / "people.db")) == 30


async def test_sqlite_query_is_read_only(sqlite_db):
    with pytest.raises(SqlError, match="readonly"):
        await run_one(SqlQuery(id="q", defaults={
            "database": "sqlite:people.db", "query": "DELETE FROM people"}), sqlite_db)
    assert len(rows_in(sqlite_db / "people.db")) == 30


async def test_a_committed_sqlite_write_is_made_durable_before_the_task_completes(
        sqlite_db, writes):
    statement = "INSERT INTO people (name, age) VALUES (?, ?)"
    await run_watched(SqlWrite(id="w", defaults={"database": "sqlite:people.db",
                                                 "statement": statement, "params": ["n", 1]}),
                      sqlite_db, writes)
    assert [w[:2] for w in writes] == [("written", str((sqlite_db / "people.db").resolve())),
                                       ("complete", "w")]
    writes.clear()
    with pytest.raises(SqlError, match="nothing was written"):
        await run_watched(SqlWrite(id="dup", defaults={
            "database": "sqlite:people.db", "statement": statement, "params": ["n", 2]}),
            sqlite_db, writes)
    assert writes == []


async def test_sqlite_write_batch_is_all_or_nothing(sqlite_db):
    path = sqlite_db / "people.db"
    out = await run_one(SqlWrite(id="w", defaults={
        "database": "sqlite:people.db", "statement": "INSERT INTO people (name, age) "
        "VALUES (?, ?)", "rows": [["new1", 1], ["new2", 2]]}), sqlite_db)
    assert out == {"rowcount": 2}
    before = rows_in(path)
    with pytest.raises(SqlError, match=r"nothing was written.*UNIQUE"):
        await run_one(SqlWrite(id="w", defaults={
            "database": "sqlite:people.db", "statement": "INSERT INTO people (name, age) "
            "VALUES (?, ?)", "rows": [["new3", 3], ["new1", 9]]}), sqlite_db)
    assert rows_in(path) == before


async def test_sqlite_errors_are_sql_errors(sqlite_db):
    with pytest.raises(SqlError, match="no such table"):
        await run_one(SqlQuery(id="q", defaults={
            "database": "sqlite:people.db", "query": "SELECT * FROM nobody"}), sqlite_db)
    with pytest.raises(SqlError, match="syntax"):
        await run_one(SqlQuery(id="q", defaults={
            "database": "sqlite:people.db", "query": "SELEC 1"}), sqlite_db)


async def test_sqlite_file_stays_under_the_file_root(sqlite_db, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "other.db"
    for url in ("sqlite:../x.db", f"sqlite:///{elsewhere}"):
        with pytest.raises(FileAccessError, match="outside the file root"):
            await run_one(SqlWrite(id="w", defaults={
                "database": url, "statement": "CREATE TABLE t (x)"}), sqlite_db)
    assert not elsewhere.exists()
    with pytest.raises(FileAccessError, match="no SQLite file"):
        await run_one(SqlQuery(id="q", defaults={
            "database": "sqlite:missing.db", "query": "SELECT 1"}), sqlite_db)
    assert not (sqlite_db / "missing.db").exists()


async def test_blobs_come_back_as_base64(sqlite_db):
    await run_one(SqlWrite(id="w", defaults={
        "database": "sqlite:people.db", "statement": "UPDATE people SET photo = ? "
        "WHERE name = 'p01'", "params": [None]}), sqlite_db)
    connection = sqlite3.connect(sqlite_db / "people.db")
    connection.execute("UPDATE people SET photo = x'00ff' WHERE name = 'p01'")
    connection.commit()
    connection.close()
    out = await run_one(SqlQuery(id="q", defaults={
        "database": "sqlite:people.db", "query": "SELECT photo FROM people WHERE name = ?",
        "params": ["p01"]}), sqlite_db)
    assert out["rows"] == [{"photo": "AP8="}]


def test_sql_tasks_round_trip_through_json_and_code():
    graph = TaskGraph([
        SqlWrite(id="w", defaults={"database": "sqlite:a.db", "statement": "INSERT INTO t "
                                   "VALUES (?)", "rows": [[1], [2]]}),
        SqlQuery(id="q", defaults={"database": "postgresql://u@h/db", "query": "SELECT %s",
                                   "params": {"a": 1}, "max_rows": 3})])
    doc = graph.to_json()
    assert TaskGraph.from_json(json.loads(json.dumps(doc))).to_json() == doc
    back = from_code(to_code(graph)).to_json()
    assert sorted(back["tasks"], key=lambda t: t["id"]) == sorted(doc["tasks"],
                                                                 key=lambda t: t["id"])


# -- Postgres -----------------------------------------------------------------------


@pytest.fixture
async def pg(postgres_url):
    import psycopg

    from taskloom.storage.postgres import _split_url

    conninfo, schema = _split_url(postgres_url)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute("CREATE TABLE people (name text NOT NULL UNIQUE, age int, "
                           "born date, balance numeric)")
        await conn.execute("INSERT INTO people SELECT 'p' || lpad(i::text, 2, '0'), i, "
                           "date '2000-01-01' + i, i * 1.5 FROM generate_series(0, 29) i")
    return postgres_url


async def pg_names(url):
    out = await run_one(SqlQuery(id="n", defaults={
        "database": url, "query": "SELECT name FROM people ORDER BY name", "max_rows": 100}))
    return [row["name"] for row in out["rows"]]


@pytest.mark.postgres
async def test_postgres_query_with_parameters_and_a_row_limit(pg):
    out = await run_one(SqlQuery(id="q", defaults={
        "database": pg, "query": "SELECT name, age, born, balance FROM people "
        "WHERE age >= %s ORDER BY age", "params": [28], "max_rows": 1}))
    assert out == {"columns": ["name", "age", "born", "balance"], "truncated": True,
                   "rows": [{"name": "p28", "age": 28, "born": "2000-01-29",
                             "balance": 42.0}]}
    out = await run_one(SqlQuery(id="q", defaults={
        "database": pg, "query": "SELECT count(*) AS n FROM people WHERE name = %(name)s",
        "params": {"name": "p03"}}))
    assert out["rows"] == [{"n": 1}] and out["truncated"] is False


@pytest.mark.postgres
async def test_postgres_parameters_never_become_sql(pg):
    await run_one(SqlWrite(id="w", defaults={
        "database": pg, "statement": "INSERT INTO people (name) VALUES (%s)",
        "params": [INJECTION]}))
    names = await pg_names(pg)
    assert INJECTION in names and len(names) == 31
    with pytest.raises(SqlError, match=r"multiple commands|cannot insert multiple"):
        await run_one(SqlWrite(id="w", defaults={
            "database": pg, "statement": "DELETE FROM people WHERE age = %s; "
            "DROP TABLE people", "params": [1]}))
    assert len(await pg_names(pg)) == 31


@pytest.mark.postgres
async def test_postgres_query_is_read_only_and_writes_are_atomic(pg):
    with pytest.raises(SqlError, match="syntax error"):  # a cursor only takes a query
        await run_one(SqlQuery(id="q", defaults={"database": pg,
                                                 "query": "DELETE FROM people"}))
    with pytest.raises(SqlError, match="read-only transaction"):
        await run_one(SqlQuery(id="q", defaults={"database": pg, "query":
                                                 "SELECT * FROM people FOR UPDATE"}))
    with pytest.raises(SqlError, match=r"nothing was written.*duplicate key"):
        await run_one(SqlWrite(id="w", defaults={
            "database": pg, "statement": "INSERT INTO people (name) VALUES (%s)",
            "rows": [["fresh"], ["p01"]]}))
    names = await pg_names(pg)
    assert len(names) == 30 and "fresh" not in names
    out = await run_one(SqlWrite(id="w", defaults={
        "database": pg, "statement": "UPDATE people SET age = age + 1 WHERE age < %s",
        "params": [5]}))
    assert out == {"rowcount": 5}


@pytest.mark.postgres
async def test_postgres_errors_are_sql_errors(pg):
    with pytest.raises(SqlError, match="nobody"):
        await run_one(SqlQuery(id="q", defaults={"database": pg,
                                                 "query": "SELECT * FROM nobody"}))
    with pytest.raises(SqlError, match="cannot connect"):
        await run_one(SqlQuery(id="q", defaults={
            "database": "postgresql://postgres@127.0.0.1:1/postgres", "query": "SELECT 1"}))
