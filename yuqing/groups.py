"""Reposts and near-duplicates grouped: every mention gets `group_id`, the id of the first-seen
mention of its story (its own id when it is alone), so search, alerts and the digest can show a
story once with its count.

A repost joins its original's group (`repost_of`). Any other mention joins the group of the most
similar mention seen in the last `window` whose estimated Jaccard similarity (the share of equal
MinHash values; the signature comes from the analyse stage, `nlp.clusters.signature`) reaches
`threshold`, and that names at least one of the same institutions (or both name none): the same
wire story about two different banks is two stories. LSH banding (`ROWS` values per band) finds
the candidates without comparing against every signature.

The signatures live in their own SQLite file in the data dir (`DataDir.groups_db`), whichever
backend stores the mentions: each crawl is a new process, several may write at once (one
IMMEDIATE transaction per batch, so two copies of one story arriving together in two processes
still get one group), and nothing of it is needed to read the mentions back. Signatures older than
the window are dropped as new ones come in, so the file stays the size of a few days' mentions.
A mention seen again (a re-crawl, a re-import) keeps the group it was given.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from yuqing.model import Mention
from yuqing.storage.base import StoreError
from yuqing.storage.sqlite import connect, migrate

# The best F1 on benchmarks/bench_dedup.py's labelled pairs (README "Reposts and near-duplicates"):
# reposts with a comment of their own sit at 0.6-0.8, different stories sharing boilerplate at 0.3.
THRESHOLD = 0.4
WINDOW = timedelta(days=7)
# 3 values per band, 42 bands of 128 values: two texts at Jaccard 0.4 share a band with
# probability 0.94, at 0.5 with 0.995, at 0.1 with 0.04 (fewer candidates to compare).
ROWS = 3

Signer = Callable[[str], Sequence[int] | None]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE signatures (
        id TEXT PRIMARY KEY,
        group_id TEXT NOT NULL,
        seen_ts REAL NOT NULL,
        institutions TEXT NOT NULL,
        signature BLOB
    );
    CREATE INDEX signatures_seen ON signatures (seen_ts);
    CREATE INDEX signatures_group ON signatures (group_id);
    CREATE TABLE bands (
        band INTEGER NOT NULL,
        id TEXT NOT NULL REFERENCES signatures (id) ON DELETE CASCADE,
        PRIMARY KEY (band, id)
    ) WITHOUT ROWID;
    CREATE INDEX bands_id ON bands (id);
    """,
)


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The estimated Jaccard similarity of two MinHash signatures: the share of equal values."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def band_keys(signature: Sequence[int]) -> list[int]:
    """One 64-bit key per band of `ROWS` values (the band's number included, so equal values in
    two different bands never collide)."""
    keys = []
    for band in range(len(signature) // ROWS):
        values = struct.pack(f"<H{ROWS}I", band, *signature[band * ROWS:(band + 1) * ROWS])
        keys.append(int.from_bytes(hashlib.blake2b(values, digest_size=8).digest(), "big", signed=True))
    return keys


def _pack(signature: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(signature)}I", *signature)


def _unpack(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 4}I", blob)


def _compatible(a: Sequence[str], b: Sequence[str]) -> bool:
    return not a and not b or bool(set(a) & set(b))


class Groups:
    """The grouping of one process: `group(mentions)` sets each one's `group_id` (in place).
    Safe to call from several threads and processes."""

    BUSY_TIMEOUT = 60.0

    def __init__(self, path: Path, sign: Signer, threshold: float = THRESHOLD, window: timedelta = WINDOW) -> None:
        self.path, self.sign, self.threshold, self.window = path, sign, threshold, window
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = connect(self.path, self.BUSY_TIMEOUT)
                # A power cut may lose the last batch's signatures, never corrupt the file: those
                # mentions are then grouped alone, which is what they were before grouping existed.
                self._db.execute("PRAGMA synchronous = NORMAL")
                migrate(self._db, self.path, MIGRATIONS, "groups_version")
            except (sqlite3.Error, OSError) as e:
                self._db = None
                raise StoreError(f"cannot open the group index at {self.path}: {e}") from e
        return self._db

    def group(self, mentions: Sequence[Mention], now: datetime | None = None) -> None:
        """Give every mention its group. Raises StoreError when the index cannot be read or
        written (the mentions keep the groups they had)."""
        # A repost's own signature is kept too: a later copy of its text finds it, original or not.
        signatures = [self.sign(m.text) for m in mentions]  # outside the lock: CPU work
        now = now or datetime.now(timezone.utc)
        with self._lock:
            db = self._open()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute("DELETE FROM signatures WHERE seen_ts < ?", ((now - self.window).timestamp(),))
                    groups = [self._assign(db, m, sig, now) for m, sig in zip(mentions, signatures, strict=True)]
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise StoreError(f"cannot group mentions in {self.path}: {e}") from e
        for m, group in zip(mentions, groups, strict=True):
            m.group_id = group

    def _assign(self, db: sqlite3.Connection, m: Mention, signature: Sequence[int] | None, now: datetime) -> str:
        known = db.execute("SELECT group_id FROM signatures WHERE id = ?", (m.id,)).fetchone()
        if known:
            return str(known[0])
        if db.execute("SELECT 1 FROM signatures WHERE group_id = ? LIMIT 1", (m.id,)).fetchone():
            group = m.id  # a repost of this mention came first and named it its group
        elif m.repost_of:
            original = db.execute("SELECT group_id FROM signatures WHERE id = ?", (m.repost_of,)).fetchone()
            group = str(original[0]) if original else m.repost_of
        else:
            group = (self._nearest(db, m, signature) if signature else None) or m.id
        db.execute("INSERT INTO signatures VALUES (?, ?, ?, ?, ?)",
                   (m.id, group, now.timestamp(), json.dumps(sorted(m.institutions), ensure_ascii=False),
                    _pack(signature) if signature else None))
        if signature:
            db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", ((k, m.id) for k in band_keys(signature)))
        return group

    def _nearest(self, db: sqlite3.Connection, m: Mention, signature: Sequence[int]) -> str | None:
        keys = band_keys(signature)
        rows = db.execute(
            "SELECT s.group_id, s.signature, s.institutions FROM signatures s WHERE s.id IN "
            f"(SELECT id FROM bands WHERE band IN ({','.join('?' * len(keys))})) ORDER BY s.seen_ts, s.id",
            keys).fetchall()
        best, best_score = None, self.threshold
        for group, blob, institutions in rows:
            score = similarity(signature, _unpack(blob))
            if score >= best_score and (best is None or score > best_score) and \
                    _compatible(m.institutions, json.loads(institutions)):
                best, best_score = str(group), score
        return best

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


__all__ = ["MIGRATIONS", "ROWS", "THRESHOLD", "WINDOW", "Groups", "Signer", "band_keys", "similarity"]
