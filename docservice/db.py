"""Database access: SQLite (default, zero set-up) or PostgreSQL (psycopg 3) behind one API.

SQL is written once with ``?`` placeholders and translated for psycopg. Every write runs in
one transaction (:meth:`Database.tx`): on SQLite ``BEGIN IMMEDIATE`` serialises writers, on
PostgreSQL rows are locked with ``FOR UPDATE`` (``SKIP LOCKED`` when claiming), so several
worker processes and the API can change the same job safely.
"""

from __future__ import annotations

import queue
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: migrations skipped by the schema_drift fault (the chunker provenance columns)
DRIFT_SKIPPED = frozenset({2})
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseError(RuntimeError):
    """The database URL is unusable or the database cannot be reached."""


@dataclass(frozen=True)
class Migration:
    """One versioned schema change from docservice/migrations/NNNN_name.sql."""

    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        body = "\n".join(
            line for line in self.sql.splitlines() if not line.strip().startswith("--")
        )
        return [s.strip() for s in body.split(";") if s.strip()]


def load_migrations() -> list[Migration]:
    """Every migration file, in version order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), path.read_text()))
    return found


LATEST_SCHEMA = max(m.version for m in load_migrations())


class Tx:
    """One open transaction; rows come back as dicts."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the affected row count."""
        cur = self.conn.execute(self._sql(sql), tuple(params))
        return cur.rowcount

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(self._sql(sql), tuple(params))
        return [dict(r) for r in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))

    def lock(self, key: str) -> None:
        """Hold a lock on ``key`` until this transaction ends (PostgreSQL advisory lock;
        SQLite's BEGIN IMMEDIATE already serialises every writer)."""
        if self.dialect == "postgres":
            self.execute("SELECT pg_advisory_xact_lock(7305042, hashtext(?))", (key,))

    def for_update(self, skip_locked: bool = False) -> str:
        """Row-lock suffix for a SELECT: PostgreSQL only (SQLite's BEGIN IMMEDIATE locks all)."""
        if self.dialect != "postgres":
            return ""
        return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


class Database:
    """A small connection pool over one database URL (``sqlite:///path`` or ``postgresql://``)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            self.path = Path(url[len("sqlite:///") :])
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgres"
        else:
            raise DatabaseError(
                f"DOCSERVICE_DATABASE_URL {url.split('@')[-1]!r} is not supported; use "
                "sqlite:///absolute/path.sqlite3 or postgresql://user@host:port/dbname"
            )
        self.url = url
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()

    @property
    def display(self) -> str:
        """The URL without credentials, for logs and health output."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.path}"
        return "postgresql://" + self.url.split("@")[-1]

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=15, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=15000")
            return conn
        import psycopg
        from psycopg.rows import dict_row

        try:
            return psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect to {self.display}: {exc}".strip()) from None

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        healthy = True
        try:
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield Tx(conn, self.dialect)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield Tx(conn, self.dialect)
        except BaseException:
            healthy = self.dialect == "sqlite" or not conn.closed
            raise
        finally:
            if healthy:
                self._pool.put(conn)
            else:
                conn.close()

    def close(self) -> None:
        """Close every pooled connection."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    def migrate(self, now_iso: str, skip: frozenset[int] = frozenset()) -> int:
        """Apply every pending migration (minus ``skip``); returns the schema version.

        Safe to run from several processes at once: PostgreSQL takes an advisory lock,
        SQLite's BEGIN IMMEDIATE already serialises.
        """
        with self.tx() as tx:
            if self.dialect == "postgres":
                tx.execute("SELECT pg_advisory_xact_lock(7305041)")
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r["version"] for r in tx.all("SELECT version FROM schema_migrations")}
            for mig in load_migrations():
                if mig.version in done or mig.version in skip:
                    continue
                for stmt in mig.statements():
                    tx.execute(stmt)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (mig.version, mig.name, now_iso),
                )
        return self.schema_version()

    def drop_document_uniqueness(self) -> None:
        """Fault ``dedup_broken``: remove the UNIQUE (user_id, sha256) of ``documents``.

        Reproduces a schema that lost the constraint deduplication rests on, so the same
        bytes can be stored as a second document. Idempotent. SQLite cannot drop a table
        constraint, so the table is rebuilt without it (same columns, same rows).
        """
        with self.tx() as tx:
            if self.dialect == "postgres":
                tx.execute("SELECT pg_advisory_xact_lock(7305041)")
                tx.execute(
                    "ALTER TABLE documents DROP CONSTRAINT IF EXISTS documents_user_id_sha256_key"
                )
                return
            sql = tx.scalar(
                "SELECT sql AS s FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
            )
            loose = re.sub(r",\s*UNIQUE\s*\(\s*user_id\s*,\s*sha256\s*\)", "", sql or "")
            if not sql or loose == sql:
                return
            tx.execute(
                re.sub(
                    r"CREATE TABLE \"?documents\"?", "CREATE TABLE documents_loose", loose, count=1
                )
            )
            tx.execute("INSERT INTO documents_loose SELECT * FROM documents")
            tx.execute("DROP TABLE documents")
            tx.execute("ALTER TABLE documents_loose RENAME TO documents")

    def schema_version(self) -> int:
        """Highest N with migrations 1..N all applied, 0 for an empty database (a skipped
        migration - the schema_drift fault - caps the version below it)."""
        with self.tx(write=False) as tx:
            if self.dialect == "postgres":
                exists = tx.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL AS e")
            else:
                exists = tx.scalar(
                    "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'schema_migrations'"
                )
            if not exists:
                return 0
            applied = {int(r["version"]) for r in tx.all("SELECT version FROM schema_migrations")}
        version = 0
        while version + 1 in applied:
            version += 1
        return version
