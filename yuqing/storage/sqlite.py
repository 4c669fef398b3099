"""The embedded default store: one SQLite file (WAL) with an FTS5 index over jieba-segmented text.

One writer connection guarded by a lock (the scheduler's jobs and the web app share the object);
the schema is created idempotently and migrated by version, as Datasette does.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from yuqing.highlight import highlight
from yuqing.model import Mention, keep_corrections
from yuqing.query import And, Node, Not, Or, Term, positive_terms
from yuqing.segment import index_tokens, near_distance, query_tokens
from yuqing.storage.base import SCAN_BATCH, Hit, IndexReport, SearchRequest, SearchResult, StoreError

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Rows deleted per transaction by `prune`: a writer (the crawl) waits at most one batch, not the whole prune.
PRUNE_BATCH = 5000
# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE mentions (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        polarity TEXT NOT NULL DEFAULT '',
        published_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX mentions_published ON mentions (published_ts);
    CREATE INDEX mentions_source ON mentions (source, published_ts);
    CREATE TABLE mention_institutions (
        mention_rowid INTEGER NOT NULL REFERENCES mentions (rowid) ON DELETE CASCADE,
        institution TEXT NOT NULL,
        PRIMARY KEY (institution, mention_rowid)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE mentions_fts USING fts5 (title, body, tokenize = 'unicode61');
    """,
    # 2: repost / near-duplicate groups; "" on older rows means "its own group"
    """
    ALTER TABLE mentions ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX mentions_group ON mentions (group_id);
    """,
)


def migrate(db: sqlite3.Connection, path: Path, migrations: tuple[str, ...], key: str) -> list[str]:
    """Bring one schema in `db` up to date; one line per version applied, or one saying it is
    current. Each schema sharing the file (the mentions, the alert state) keeps its own version
    under `key` in the `meta` table."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("BEGIN IMMEDIATE")  # two processes opening a new file at once: one migrates, one waits
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        version = int(row[0]) if row else 0
        if version > len(migrations):
            raise StoreError(f"{path} has {key} {version}, newer than this yuqing ({len(migrations)}); upgrade yuqing")
        lines = []
        for number, script in enumerate(migrations[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(number)))
            lines.append(f"migrated {path} to {key} {number}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return lines or [f"unchanged: {path} at {key} {version}"]


def _ts(mention: Mention) -> float:
    return (mention.published_at or mention.fetched_at).timestamp()


def _fts_phrase(tokens: list[str]) -> str:
    quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
    if len(quoted) == 1:
        return quoted[0]
    return f"NEAR({' '.join(quoted)}, {near_distance(tokens)})"


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` in WAL mode with foreign keys on, shared between
    threads under the caller's lock (the store and the web app's state both open theirs here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def _why_not(path: Path) -> str:
    """What SQLite's "unable to open database file" leaves out: the folder is read-only."""
    folder = path.parent if path.parent.exists() else next(p for p in path.parents if p.exists())
    if not os.access(folder, os.W_OK) or os.statvfs(folder).f_flag & os.ST_RDONLY:
        return f" ({folder} is read-only: give a writable --data-dir, or make it writable)"
    return ""


class SqliteStore:
    """`Store` on a single SQLite file. Safe to share between threads, and between processes (WAL;
    a writer waits up to `BUSY_TIMEOUT` seconds for another process's transaction)."""

    BUSY_TIMEOUT = 60.0

    def __init__(self, path: str | Path, tz: ZoneInfo = SHANGHAI) -> None:
        self.path = Path(path)
        self.tz = tz
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._db = connect(self.path, self.BUSY_TIMEOUT)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the SQLite store at {self.path}: {e}{_why_not(self.path)}") from e

    @contextmanager
    def _errors(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; any SQLite failure becomes a `StoreError` saying what failed
        and where, and a closed store says so instead of raising sqlite3's ProgrammingError."""
        with self._lock:
            if self._closed:
                raise StoreError(f"cannot {what}: the SQLite store at {self.path} is closed")
            try:
                yield self._db
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"cannot {what} in the SQLite store at {self.path}: {e}") from e

    def _migrate(self) -> list[str]:
        with self._errors("migrate the schema") as db:
            return migrate(db, self.path, MIGRATIONS, "schema_version")

    def setup(self) -> list[str]:
        """Create or migrate the schema (opening the store already does; idempotent). Returns one line
        per change, as the Elasticsearch store's `setup()` does."""
        return self._migrate()

    @property
    def schema_version(self) -> int:
        with self._errors("read the schema version") as db:
            return int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------------

    def index_many(self, mentions: Iterable[Mention]) -> IndexReport:
        report = IndexReport()
        rows = []
        for m in mentions:  # segmenting is the slow part: do it outside the write lock
            try:
                rows.append((m, json.dumps(m.to_dict(), ensure_ascii=False, allow_nan=False),
                             index_tokens(m.title), index_tokens(m.content)))
            except (TypeError, ValueError, AttributeError) as e:
                report.failed.append((getattr(m, "id", "?"), f"cannot serialise: {e}"))
        with self._errors(f"write {len(rows)} mentions") as db:
            db.execute("BEGIN IMMEDIATE")
            for m, doc, title_seg, body_seg in rows:
                self._upsert(m, doc, title_seg, body_seg, report)
            db.execute("COMMIT")
        return report

    def _upsert(self, m: Mention, doc: str, title_seg: str, body_seg: str, report: IndexReport) -> None:
        db = self._db
        # The stored document only when it carries corrections: the one case that changes what is written.
        old = db.execute("SELECT rowid, CASE WHEN json_array_length(doc, '$.corrections') > 0 THEN doc END "
                         "FROM mentions WHERE id = ?", (m.id,)).fetchone()
        if old and old[1]:
            m = keep_corrections(self._mention(old[1]), m)
            doc = json.dumps(m.to_dict(), ensure_ascii=False, allow_nan=False)
        values = (m.source, m.polarity, _ts(m), m.group_id, doc)
        if old:
            rowid = old[0]
            db.execute("UPDATE mentions SET source = ?, polarity = ?, published_ts = ?, group_id = ?, doc = ? "
                       "WHERE rowid = ?", (*values, rowid))
            db.execute("DELETE FROM mentions_fts WHERE rowid = ?", (rowid,))
            db.execute("DELETE FROM mention_institutions WHERE mention_rowid = ?", (rowid,))
            report.updated += 1
        else:
            rowid = db.execute("INSERT INTO mentions (id, source, polarity, published_ts, group_id, doc) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (m.id, *values)).lastrowid
            report.created += 1
        db.execute("INSERT INTO mentions_fts (rowid, title, body) VALUES (?, ?, ?)", (rowid, title_seg, body_seg))
        db.executemany("INSERT OR IGNORE INTO mention_institutions VALUES (?, ?)",
                       [(rowid, name) for name in m.institutions])

    # -- reads ----------------------------------------------------------------------------------

    def _mention(self, doc: str) -> Mention:
        m = Mention.from_dict(json.loads(doc))
        if m.published_at is not None:
            m.published_at = m.published_at.astimezone(self.tz)
        return m

    def get(self, mention_id: str) -> Mention | None:
        with self._errors(f"read mention {mention_id}") as db:
            row = db.execute("SELECT doc FROM mentions WHERE id = ?", (mention_id,)).fetchone()
        return self._mention(row[0]) if row else None

    def _match_sql(self, node: Node, params: list[object]) -> str:
        if isinstance(node, Term):
            params.append(_fts_phrase(query_tokens(node.text)))
            return "m.rowid IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH ?)"
        if isinstance(node, Not):
            return f"NOT ({self._match_sql(node.item, params)})"
        joiner = " AND " if isinstance(node, And) else " OR "
        assert isinstance(node, (And, Or))
        return "(" + joiner.join(self._match_sql(item, params) for item in node.items) + ")"

    def _where(self, request: SearchRequest) -> tuple[str, list[object]]:
        clauses, params = ["1 = 1"], []  # type: tuple[list[str], list[object]]
        if request.query is not None:
            clauses.append(self._match_sql(request.query, params))
        if request.since is not None:
            clauses.append("m.published_ts >= ?")
            params.append(request.since.timestamp())
        if request.until is not None:
            clauses.append("m.published_ts < ?")
            params.append(request.until.timestamp())
        if request.polarity:
            clauses.append("m.polarity = ?")
            params.append(request.polarity)
        if request.source:
            clauses.append("m.source = ?")
            params.append(request.source)
        if request.institution:
            clauses.append("m.rowid IN (SELECT mention_rowid FROM mention_institutions WHERE institution = ?)")
            params.append(request.institution)
        if request.allowed_institutions is not None:
            marks = ", ".join("?" * len(request.allowed_institutions))
            clauses.append(f"m.rowid IN (SELECT mention_rowid FROM mention_institutions WHERE institution IN ({marks}))"
                           if marks else "0 = 1")
            params.extend(request.allowed_institutions)
        if request.corrected_only:
            clauses.append("json_array_length(m.doc, '$.corrections') > 0")
        return " AND ".join(clauses), params

    def search(self, request: SearchRequest) -> SearchResult:
        where, params = self._where(request)
        rank_terms = positive_terms(request.query)
        with self._errors("search") as db:
            total = db.execute(f"SELECT COUNT(*) FROM mentions m WHERE {where}", params).fetchone()[0]
            if rank_terms:
                rank_match = " OR ".join(_fts_phrase(query_tokens(t)) for t in rank_terms)
                sql = (f"SELECT m.doc, -COALESCE(r.rank, 0) FROM mentions m LEFT JOIN "
                       f"(SELECT rowid, bm25(mentions_fts, 2.0, 1.0) AS rank FROM mentions_fts "
                       f"WHERE mentions_fts MATCH ?) r ON r.rowid = m.rowid WHERE {where} "
                       f"ORDER BY COALESCE(r.rank, 0), m.published_ts DESC, m.id LIMIT ? OFFSET ?")
                rows = db.execute(sql, [rank_match, *params, request.limit, request.offset]).fetchall()
            else:
                sql = (f"SELECT m.doc, 0 FROM mentions m WHERE {where} "
                       f"ORDER BY m.published_ts DESC, m.id LIMIT ? OFFSET ?")
                rows = db.execute(sql, [*params, request.limit, request.offset]).fetchall()
        hits = []
        for doc, score in rows:
            m = self._mention(doc)
            hits.append(Hit(m, highlight(m.text, request.query), float(score)))
        return SearchResult(total, hits)

    def count_by_interval(self, since: datetime, until: datetime, interval_seconds: int, *,
                          institution: str | None = None, polarity: str | None = None,
                          source: str | None = None) -> list[tuple[datetime, int]]:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        request = SearchRequest(query=None, since=since, until=until, polarity=polarity, source=source,
                                institution=institution)
        where, params = self._where(request)
        start = since.timestamp()
        with self._errors("count mentions") as db:
            rows = db.execute(
                f"SELECT CAST((m.published_ts - ?) / ? AS INTEGER) AS b, COUNT(*) FROM mentions m "
                f"WHERE {where} GROUP BY b", [start, interval_seconds, *params]).fetchall()
        counts = dict(rows)
        n = max(0, int(-(-(until.timestamp() - start) // interval_seconds)))
        tz = since.tzinfo or timezone.utc
        return [(datetime.fromtimestamp(start + i * interval_seconds, tz), counts.get(i, 0)) for i in range(n)]

    def scan_rows(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH,
                  after_rowid: int = 0) -> Iterator[tuple[int, list[Mention]]]:
        """`scan`, with the last rowid of each batch: `yuqing migrate` keeps it as its checkpoint and
        resumes after it. Keyset paging on rowid, so batch 1,000 costs what batch 1 does; the lock is
        held for one batch at a time, so writers go on between batches."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        where, params = self._where(request or SearchRequest(query=None))
        while True:
            with self._errors("scan mentions") as db:
                rows = db.execute(f"SELECT m.rowid, m.doc FROM mentions m WHERE {where} AND m.rowid > ? "
                                  f"ORDER BY m.rowid LIMIT ?", [*params, after_rowid, batch_size]).fetchall()
            if not rows:
                return
            after_rowid = rows[-1][0]
            yield after_rowid, [self._mention(doc) for _, doc in rows]
            if len(rows) < batch_size:
                return

    def scan(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH) -> Iterator[list[Mention]]:
        for _, batch in self.scan_rows(request, batch_size):
            yield batch

    def ids(self, batch_size: int = SCAN_BATCH) -> Iterator[list[str]]:
        """Every mention id, in rowid order, `batch_size` at a time (the migration's count check)."""
        after = 0
        while True:
            with self._errors("list mention ids") as db:
                rows = db.execute("SELECT rowid, id FROM mentions WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                  (after, batch_size)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [i for _, i in rows]

    def prune(self, before: datetime, *, dry_run: bool = False) -> int:
        cutoff = before.timestamp()
        if dry_run:
            with self._errors("count mentions to prune") as db:
                return int(db.execute("SELECT COUNT(*) FROM mentions WHERE published_ts < ?", (cutoff,)).fetchone()[0])
        deleted = 0
        while True:
            with self._errors("prune mentions") as db:
                db.execute("BEGIN IMMEDIATE")
                rowids = json.dumps([r for r, in db.execute("SELECT rowid FROM mentions WHERE published_ts < ? LIMIT ?",
                                                             (cutoff, PRUNE_BATCH))])
                db.execute("DELETE FROM mentions_fts WHERE rowid IN (SELECT value FROM json_each(?))", (rowids,))
                # mention_institutions rows go with their mention (ON DELETE CASCADE)
                n = db.execute("DELETE FROM mentions WHERE rowid IN (SELECT value FROM json_each(?))",
                               (rowids,)).rowcount
                db.execute("COMMIT")
            deleted += n
            if n < PRUNE_BATCH:
                return deleted

    def count(self) -> int:
        with self._errors("count mentions") as db:
            return int(db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0])

    def close(self) -> None:
        """Idempotent; every later call raises `StoreError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


__all__ = ["MIGRATIONS", "SqliteStore", "migrate"]
