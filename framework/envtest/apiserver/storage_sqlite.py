"""Durable storage: `MemoryStorage` whose every committed write is also kept in SQLite.

Memory stays the serving layer (every read is answered from it); each write is recorded and the
writes of one event-loop iteration are committed to SQLite together at its end (a burst of
writes to one object costs one row write). The database (stdlib `sqlite3`, write-ahead log,
`synchronous=NORMAL`) holds two tables:

- `objects(grp, resource, namespace, name)` -> `rv`, `data` (the object's JSON bytes); the
  namespace of cluster-scoped objects is "" and CRDs are objects like any other;
- `meta(key)` -> `value`, with `resourceVersion`, the global counter.

`open()` loads everything into memory and continues the counter. The event window is NOT
persisted: after a reopen any watch or continue token from an older resourceVersion gets 410
Expired (a watch: HTTP 200 and an ERROR event), and a client that relists recovers. A write is
on disk by the end of the loop iteration that made it (`flush()` forces it; `shutdown()` flushes
and closes); a process killed in between loses that iteration's writes. The database is
locked exclusively while open: a second server on the same file fails at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson

from framework.envtest.apiserver.storage import MemoryStorage
from framework.envtest.apiserver.watch import DELETED, StoredObject, WatchEvent

DATABASE = "kubeloop-apiserver.sqlite3"
_SCHEMA_VERSION = 1
_RV = "resourceVersion"
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS objects (
        grp TEXT NOT NULL,
        resource TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        rv INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (grp, resource, namespace, name)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)

# (group, resource, namespace, name): the row's primary key.
RowKey = tuple[str, str, str, str]


class DataDirLocked(RuntimeError):
    """Another server holds the database (SQLite answered "database is locked")."""


def _row_key(resource: str, namespace: str, name: str) -> RowKey:
    """`resource` is a storage key, "plural" or "plural.group"."""
    plural, _, group = resource.partition(".")
    return group, plural, namespace, name


def _storage_key(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


class SqliteStorage(MemoryStorage):
    """`MemoryStorage` kept in the SQLite database `path` (created if missing); opened by the
    constructor. `event_window` bounds the (in-memory only) event window."""

    def __init__(self, path: str | Path, event_window: int = 10_000) -> None:
        super().__init__(event_window)
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._pending: dict[RowKey, StoredObject | None] = {}
        self._flush_scheduled = False
        self.open()

    def open(self) -> None:
        """Connect and load every object into memory (no-op when open); writes made while
        closed are committed first. Raises DataDirLocked when another server has the
        database open."""
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            # Exclusive locking before WAL: no shared-memory index, and the first write takes
            # the lock for as long as the connection lives.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            with db:
                db.execute("BEGIN IMMEDIATE")
                _migrate(db)
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" in str(error):
                raise DataDirLocked(f"{self.path} is in use by another server") from None
            raise
        self._db = db
        self.flush()
        self.load(self._rows(db), _counter(db))

    @staticmethod
    def _rows(db: sqlite3.Connection) -> Iterator[tuple[str, StoredObject]]:
        for group, plural, rv, data in db.execute("SELECT grp, resource, rv, data FROM objects"):
            yield _storage_key(group, plural), StoredObject(orjson.loads(data), data, rv)

    def flush(self) -> None:
        """Commit the writes not yet on disk, in one transaction."""
        self._flush_scheduled = False
        if not self._pending or self._db is None:
            return
        pending, self._pending = self._pending, {}
        upserts = [(*k, s.rv, s.raw) for k, s in pending.items() if s is not None]
        deletes = [k for k, s in pending.items() if s is None]
        with self._db:
            self._db.execute("BEGIN")
            if deletes:
                self._db.executemany(
                    "DELETE FROM objects WHERE grp=? AND resource=? AND namespace=? AND name=?",
                    deletes,
                )
            if upserts:
                self._db.executemany(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?)", upserts
                )
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (_RV, self.resource_version)
            )

    def shutdown(self) -> None:
        """Flush and close the database (memory keeps serving reads; `open()` reloads)."""
        if self._db is not None:
            self.flush()
            self._db.close()
            self._db = None

    def _publish(self, event: WatchEvent) -> None:
        super()._publish(event)
        meta = event.new.obj["metadata"]
        key = _row_key(event.resource, event.namespace, meta["name"])
        self._pending[key] = None if event.type == DELETED else event.new
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (set-up code): commit now
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == _SCHEMA_VERSION:
        return
    if version != 0:
        raise RuntimeError(f"unknown kubeloop database schema version {version}")
    for statement in _SCHEMA:
        db.execute(statement)
    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")


def _counter(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key=?", (_RV,)).fetchone()
    return int(row[0]) if row else 0
