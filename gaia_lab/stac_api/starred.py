"""Starred datasets (a user's own set, the "User WebMap"): one SQLite database in the service's data directory, a row
per user and collection. SQLite serialises writers, so concurrent requests of one user never lose a star."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS starred (
    user TEXT NOT NULL,
    collection TEXT NOT NULL,
    entry TEXT NOT NULL,
    title TEXT NOT NULL,
    hub TEXT NOT NULL,
    starred_at REAL NOT NULL,
    PRIMARY KEY (user, collection)
)
"""
# A user's stars are a working set for one map, not an archive: past this, starring more is refused.
MAX_PER_USER = 500


class TooManyStars(Exception):
    pass


class StarredStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
        path.chmod(0o600)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10.0)

    def list(self, user: str) -> list[dict[str, Any]]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT collection, entry, title, hub, starred_at FROM starred WHERE user = ? ORDER BY starred_at",
                (user,),
            ).fetchall()
        return [
            {
                "collection": collection,
                "entry": entry,
                "title": title,
                "hub": hub,
                "starred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            }
            for collection, entry, title, hub, at in rows
        ]

    def add(self, user: str, collection: str, *, entry: str, title: str, hub: str) -> bool:
        """Star a collection; False when it was starred already."""
        with self._lock, closing(self._connect()) as db, db:
            (count,) = db.execute("SELECT COUNT(*) FROM starred WHERE user = ?", (user,)).fetchone()
            exists = db.execute(
                "SELECT 1 FROM starred WHERE user = ? AND collection = ?", (user, collection)
            ).fetchone()
            if exists:
                return False
            if count >= MAX_PER_USER:
                raise TooManyStars(f"{user!r} has starred {count} datasets already (at most {MAX_PER_USER})")
            db.execute(
                "INSERT INTO starred (user, collection, entry, title, hub, starred_at) VALUES (?, ?, ?, ?, ?, ?)",
                (user, collection, entry, title, hub, time.time()),
            )
            return True

    def remove(self, user: str, collection: str) -> bool:
        with self._lock, closing(self._connect()) as db, db:
            cursor = db.execute("DELETE FROM starred WHERE user = ? AND collection = ?", (user, collection))
            return cursor.rowcount > 0
