"""Which database the tests use: a SQLite file per test (the default), or with
`DOORSTEP_TEST_DB=postgres` (the second pass of `make test`) a PostgreSQL schema per test in
TEST_DATABASE_URL's database, chosen by the connection's search_path.

A schema never holds another test's rows, and no test touches an object this run did not create.
Making Doorstep's tables costs ~0.4 s here, so a schema is reused: after its test it is emptied
(DELETE and sequences reset, a few ms) and lent to the next test; one whose tables a test changed,
or that cannot be emptied, is dropped. Every schema of the run is dropped when the run ends.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

POSTGRES = os.environ.get("DOORSTEP_TEST_DB", "sqlite") == "postgres"
PG_URL = os.environ.get("TEST_DATABASE_URL") or "postgresql://127.0.0.1:5432/test"


def with_params(url: str, **params) -> str:
    """`url` with libpq parameters added to its query string."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def schema_url(schema: str, url: str = PG_URL) -> str:
    """A DATABASE_URL whose connections work in `schema` (and are named after it)."""
    return with_params(url, options=f"-csearch_path={schema}", application_name=schema)


def postgres_reachable(url: str = PG_URL) -> str | None:
    """None when PostgreSQL answers at `url`, else why not."""
    import psycopg2
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return str(exc).strip()
    return None


class SchemaPool:
    """PostgreSQL schemas for tests: lent per test key, emptied and reused, dropped at the end."""

    def __init__(self, url: str = PG_URL):
        self.url = url
        self.run = f"doorstep_t{os.getpid()}_{secrets.token_hex(3)}"
        self.made = 0
        self.free: list[str] = []
        self.lent: dict[object, tuple[str, bool]] = {}   # key -> (schema, made empty on request)
        self._admin = None

    def admin(self):
        import psycopg2
        if self._admin is None or self._admin.closed:
            self._admin = psycopg2.connect(self.url)
            self._admin.autocommit = True
            self._execute("SET lock_timeout = '10s'")
        return self._admin

    def _execute(self, sql, params=None):
        with self.admin().cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def lend(self, key, empty: bool = False) -> str:
        """The schema for `key` (a test's tmp_path): the same one for the same key."""
        if key in self.lent:
            return self.lent[key][0]
        if self.free and not empty:
            schema = self.free.pop()
        else:
            self.made += 1
            schema = f"{self.run}_{self.made}"
            self._execute(f'CREATE SCHEMA "{schema}"')
        self.lent[key] = (schema, empty)
        return schema

    def give_back(self, key) -> None:
        schema, empty = self.lent.pop(key)
        if not empty and self._empty(schema):
            self.free.append(schema)
        else:
            self.drop(schema)

    def _empty(self, schema: str) -> bool:
        """Delete every row but the schema version; False when the schema is not as the current
        models make it (a test changed it) or it could not be emptied."""
        import psycopg2
        from peewee import sort_models

        from service.storage import schema as versions
        from service.storage.models import MODELS
        tables = [m._meta.table_name for m in reversed(sort_models(MODELS))]
        try:
            present = {name for (name,) in self._execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
            if present != set(tables) | {"schema_version"}:
                return False
            self._execute(f'SET search_path TO "{schema}"')
            if self._execute("SELECT max(version) FROM schema_version") != [(versions.latest(),)]:
                return False
            self._execute("BEGIN; " + " ".join(f'DELETE FROM "{t}";' for t in tables) + " COMMIT")
            for table in tables:
                self._execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)",
                              (f'"{table}"',))
            return True
        except psycopg2.Error:
            self._execute("ROLLBACK")
            return False
        finally:
            self._execute("SET search_path TO DEFAULT")

    def drop(self, schema: str) -> None:
        """Drop a schema of this run; its own connections (named after it) are ended first."""
        self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = %s AND pid <> pg_backend_pid()", (schema,))
        self._execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def close(self) -> None:
        for key in list(self.lent):
            self.drop(self.lent.pop(key)[0])
        while self.free:
            self.drop(self.free.pop())
        if self._admin is not None:
            self._admin.close()


POOL = SchemaPool() if POSTGRES else None


def database_url_for(tmp_path: Path, empty: bool = False) -> str:
    """The DATABASE_URL of the test database that belongs to `tmp_path`: its SQLite file, or on
    the PostgreSQL pass its schema. `empty=True`: a database without tables, not the shared one."""
    if POOL is None:
        name = f"empty-{secrets.token_hex(3)}.db" if empty else "doorstep.db"
        return f"sqlite:///{tmp_path / name}"
    key = (tmp_path, secrets.token_hex(3)) if empty else tmp_path
    return schema_url(POOL.lend(key, empty=empty))


# pytest hooks and fixtures (imported by conftest.py)

def pytest_sessionstart(session):
    if POSTGRES and (why := postgres_reachable()):
        pytest.exit(f"DOORSTEP_TEST_DB=postgres, but PostgreSQL at {PG_URL} does not answer: {why}",
                    returncode=1)


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass leaves out what the SQLite pass already proved about SQLite (and the
    browser tests, which serve a SQLite file); the SQLite pass skips PostgreSQL-only tests."""
    if POSTGRES:
        keep = [i for i in items if not i.get_closest_marker("sqlite_only")
                and not i.get_closest_marker("browser")]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: runs in the PostgreSQL pass "
                            "(DOORSTEP_TEST_DB=postgres; `make test` runs both)")
    for item in items:
        if item.get_closest_marker("postgres_only"):
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _schemas_of_the_run():
    yield
    if POOL is not None:
        POOL.close()


@pytest.fixture(autouse=True)
def _schemas_of_the_test():
    """Schemas lent during a test go back after it (autouse: set up first, torn down last, after
    the fixtures that hold connections). Those lent to wider fixtures last until the run ends."""
    before = set(POOL.lent) if POOL is not None else set()
    yield
    if POOL is not None:
        for key in set(POOL.lent) - before:
            POOL.give_back(key)


@pytest.fixture
def database_url(tmp_path):
    """The test's DATABASE_URL, for servers and commands started in a subprocess."""
    return database_url_for(tmp_path)


if __name__ == "__main__":   # `python -m tests.databases`: does PostgreSQL answer? (the Makefile asks)
    import sys
    problem = postgres_reachable()
    if problem:
        print(f"PostgreSQL at {PG_URL} does not answer: {problem}", file=sys.stderr)
    sys.exit(1 if problem else 0)
