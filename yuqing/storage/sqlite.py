"""The embedded default store: one SQLite file (WAL) with an FTS5 index over jieba-segmented text.

One writer connection guarded by a lock (the scheduler's jobs and the web app share the object);
the schema is created idempotently and migrated by version, as Datasette does.

Laid out so that a search reads FTS5 only for its words (schemas 4 and 5):

- **Row ids are time-ordered**: `rowid = published millisecond * ROWIDS_PER_MS + n` (`n` tells
  mentions of one millisecond apart). Newest first is rowid order, a date range is a rowid range
  (FTS5 seeks to it), and the time cursor is a rowid: page 500 costs what page 1 does.
- **A column index in memory** (`yuqing.storage.sqlite_columns`): time, source, polarity, risk,
  group, institutions and categories as numpy columns in rowid order, loaded by the first search
  and kept current from `mention_changes` (the rowids each write touched, whichever process wrote).
  Filters and sorts are comparisons over those columns, a query is boolean masks combined by its
  tree, facets are bincounts over the matching positions; the text part of a query (terms, their
  OR and NOT) is one FTS5 expression, and the last few FTS5 answers are kept until the store changes.
- **Relevance is bm25 over the newest `RELEVANCE_WINDOW` (500) matches**, then the other matches
  newest first: ranking every match of a common word would walk its whole doclist for positions.
- **Filters are also tokens** in the index's `tags` column (`s` + the source's UTF-8 in hex,
  `p`olarity, `i`nstitution, `c`ategory, `a`uthor, risk buckets, `k` on a mention a person
  corrected, and `z` on every row): `author:` and `corrected_only` are looked up there, and
  `scan` / `export` match through them.
- **Narrow rows**: `mentions` holds only what the columns read; the JSON document is in
  `mention_docs`, read for the page's hits alone; `mention_labels` holds the institutions and
  categories.
- **Wide rows by arrival** (schema 5): `mention_docs` is keyed by `seq`, the order mentions were
  written in (the `mentions` row carries it as `doc_seq`), and holds beside the document the
  segmented title, body and tags that FTS5 indexes. The index is external-content over the view
  `mention_text` (those columns at the time rowid), so it keeps only its b-tree of terms and the
  row sizes. A write of mentions at random times appends the widest rows instead of putting them
  on pages all over the file: each commit wrote those pages out (see the README's "Writes").
- **A snapshot of the column index** beside the file (`<file>.columns`), so a new process loads
  it and reads only the log since, not the whole table: written after every whole-table load and
  whenever a process's columns are `SNAPSHOT_LAG` changes past it, trusted only when its stamp
  matches the file (the schema, the log entry it stopped at, the first and last rowids).
"""
from __future__ import annotations

import functools
import json
import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from yuqing.highlight import highlighter
from yuqing.model import Mention, keep_corrections
from yuqing.query import And, Field, Node, Not, Or, Term, positive_terms
from yuqing.segment import chunked_map, index_tokens, near_distance, query_tokens
from yuqing.storage.base import (
    SCAN_BATCH,
    Facets,
    Hit,
    IndexReport,
    SearchRequest,
    SearchResult,
    StoreError,
    make_cursor,
    read_cursor,
    timeline,
    top,
)
from yuqing.storage.sqlite_bm25 import bm25
from yuqing.storage.sqlite_columns import CHANGES_KEPT, Columns, Mask, SnapshotError, integers, text_match

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Rows deleted per transaction by `prune`: a writer (the crawl) waits at most one batch, not the whole prune.
PRUNE_BATCH = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROWIDS_PER_MS = 2 ** 15  # fits year 9999 in 63 bits; more mentions in one millisecond spill into the next
_ROWID_RANGE = (-(2 ** 63), 2 ** 63 - 1)
Migration = str | Callable[[sqlite3.Connection], None]
# Relevance ranks the newest matches this many by bm25 (then the rest newest first): a PR reader
# wants today's best match, and ranking every match of a common word costs a doclist walk.
RELEVANCE_WINDOW = 500
# Matches of the query's frequent words past which its bm25 is computed from its parts: FTS5's bm25()
# first walks that many doclist entries, which costs more than highlighting the window's rows.
RANK_FROM_PARTS = 200_000
_UNRANKED = 1e300  # the sort key after every bm25 rank (FTS5's ranks are negative)
FTS_CACHE = 8  # FTS5 answers kept per store (a mask of one byte per mention each)
# Log entries a process's columns may run ahead of the snapshot before it writes a new one: catching
# up on this many costs a new process tens of milliseconds; writing one costs a fraction of a second.
SNAPSHOT_LAG = 20_000
# Rows written per transaction: FTS5 writes a new segment at every commit (and merges them later), so
# rows in transactions of 5,000 cost the writing process half what they did in the workers' chunks
# of 500 (73 against 169 us per mention, 40,000 rows prepared beforehand, loaded machine).
WRITE_ROWS = 5000
PAGE_SIZE = 8192


def _script(db: sqlite3.Connection, script: str) -> None:
    for statement in filter(str.strip, script.split(";")):
        db.execute(statement)


def _schema_3(db: sqlite3.Connection) -> None:
    """Time-ordered rowids, filter tokens, narrow rows: every mention moves to the new tables, with
    the segmented text of the old index (nothing is segmented again)."""
    _script(db, SCHEMA_3)
    old = db.execute("SELECT m.doc, f.title, f.body FROM mentions_v2 m LEFT JOIN mentions_fts f ON f.rowid = m.rowid "
                     "ORDER BY m.published_ts")
    for doc, title_seg, body_seg in old:
        _insert_v3(db, _row(Mention.from_dict(json.loads(doc)), doc, title_seg or "", body_seg or ""))
    for table in ("mention_institutions", "mentions_fts", "mentions_v2"):
        db.execute(f"DROP TABLE {table}")


def _insert_v3(db: sqlite3.Connection, row: _Row) -> int:
    """Insert one row in the layout of schemas 3 and 4 (the documents and the index's own content at
    the time rowid), at the next free id of its millisecond; its rowid. The migration to 3 writes
    through it, and tests write a store of schema 4 with it."""
    rowid = _allocate(db, [row], [None])[0]
    db.execute("INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?)",
               (rowid, row.id, row.source, row.polarity, row.published_ts, row.risk, row.group_id))
    db.execute("INSERT INTO mention_docs VALUES (?, ?)", (rowid, row.doc))
    db.execute("INSERT INTO mention_index (rowid, title, body, tags) VALUES (?, ?, ?, ?)",
               (rowid, row.title_seg, row.body_seg, row.tags))
    db.executemany("INSERT INTO mention_labels VALUES (?, ?, ?)", [(k, v, rowid) for k, v in row.labels])
    return rowid


def _schema_5(db: sqlite3.Connection) -> None:
    """Wide rows by arrival (see the module docstring): each mention's document and the index's
    copy of its segmented text move into one `mention_docs` row, numbered in rowid order; the
    index is built again over them as external content (its words are the same: the same text)."""
    _script(db, """
        ALTER TABLE mentions ADD COLUMN doc_seq INTEGER NOT NULL DEFAULT 0;
        UPDATE mentions SET doc_seq = s.n
            FROM (SELECT rowid AS r, row_number() OVER (ORDER BY rowid) AS n FROM mentions) AS s
            WHERE mentions.rowid = s.r;
        ALTER TABLE mention_docs RENAME TO mention_docs_v4;
        CREATE TABLE mention_docs (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL, title TEXT NOT NULL,
                                   body TEXT NOT NULL, tags TEXT NOT NULL);
        INSERT INTO mention_docs
            SELECT m.doc_seq, d.doc, coalesce(c.c0, ''), coalesce(c.c1, ''), coalesce(c.c2, '')
            FROM mentions m JOIN mention_docs_v4 d ON d.rowid = m.rowid
            LEFT JOIN mention_index_content c ON c.id = m.rowid ORDER BY m.doc_seq;
        DROP TABLE mention_docs_v4;
        DROP TABLE mention_index;
    """ + SCHEMA_5)
    db.execute("INSERT INTO mention_index (mention_index) VALUES ('rebuild')")


SCHEMA_5 = """
    CREATE VIEW mention_text AS SELECT m.rowid AS rowid, d.title AS title, d.body AS body, d.tags AS tags
        FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq;
    CREATE VIRTUAL TABLE mention_index USING fts5 (title, body, tags, tokenize = 'unicode61',
                                                   content = 'mention_text', content_rowid = 'rowid');
    INSERT INTO mention_index (mention_index, rank) VALUES ('rank', 'bm25(2.0, 1.0, 0.0)')
"""


SCHEMA_3 = """
    ALTER TABLE mentions RENAME TO mentions_v2;
    DROP INDEX mentions_published;
    DROP INDEX mentions_source;
    DROP INDEX mentions_group;
    CREATE TABLE mentions (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        polarity TEXT NOT NULL,
        published_ts REAL NOT NULL,
        risk REAL,
        group_id TEXT NOT NULL
    );
    CREATE INDEX mentions_risk ON mentions (coalesce(risk, -1), rowid);
    CREATE TABLE mention_docs (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
    CREATE TABLE mention_labels (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        mention_rowid INTEGER NOT NULL,
        PRIMARY KEY (kind, value, mention_rowid)
    ) WITHOUT ROWID;
    CREATE INDEX mention_labels_rowid ON mention_labels (mention_rowid);
    CREATE VIRTUAL TABLE mention_index USING fts5 (title, body, tags, tokenize = 'unicode61');
    INSERT INTO mention_index (mention_index, rank) VALUES ('rank', 'bm25(2.0, 1.0, 0.0)')
"""

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[Migration, ...] = (
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
    # 3: time-ordered rowids, filters as index tokens, narrow rows (see the module docstring)
    _schema_3,
    # 4: the log of changed rowids that keeps every process's column index current (`sqlite_columns`)
    "CREATE TABLE mention_changes (seq INTEGER PRIMARY KEY, mention_rowid INTEGER NOT NULL)",
    # 5: wide rows by arrival, the index external-content over them (see the module docstring)
    _schema_5,
)


def migrate(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration], key: str) -> list[str]:
    """Bring one schema in `db` up to date; one line per version applied, or one saying it is
    current. Each schema sharing the file (the mentions, the alert state) keeps its own version
    under `key` in the `meta` table. A migration is SQL, or a function for one that moves rows."""
    current = _schema_version(db, key)
    if current == len(migrations):  # the usual case: no write lock, so opening never waits for a writer
        return [f"unchanged: {path} at {key} {current}"]
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("BEGIN IMMEDIATE")  # two processes opening a new file at once: one migrates, one waits
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        version = int(row[0]) if row else 0
        if version > len(migrations):
            raise StoreError(f"{path} has {key} {version}, newer than this yuqing ({len(migrations)}); upgrade yuqing")
        lines = []
        for number, script in enumerate(migrations[version:], start=version + 1):
            if callable(script):
                script(db)
            else:
                _script(db, script)
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(number)))
            lines.append(f"migrated {path} to {key} {number}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return lines or [f"unchanged: {path} at {key} {version}"]


def _schema_version(db: sqlite3.Connection, key: str) -> int | None:
    """The version under `key`, None in a file without a `meta` table."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no such table: a new file
        return None
    return int(row[0]) if row else 0


# -- what one mention is in the tables ----------------------------------------------------------

class _Row(NamedTuple):
    """A mention made ready to store (a named tuple: a frozen dataclass cost 2 us a row to build)."""

    id: str
    source: str
    polarity: str
    ms: int
    published_ts: float
    risk: float | None
    group_id: str
    doc: str
    title_seg: str
    body_seg: str
    tags: str
    labels: tuple[tuple[str, str], ...]


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@functools.lru_cache(maxsize=1 << 16)  # sources, institutions, categories and authors repeat
def _tag(kind: str, value: str) -> str:
    """One filter token: the kind letter and the value's UTF-8 in hex (one unicode61 token, exact)."""
    return kind + value.encode("utf-8", "surrogatepass").hex()


FIELD_TAGS = {"source": "s", "polarity": "p", "institution": "i", "category": "c", "author": "a"}
_ALL = "tags : z"
_NOTHING = f"({_ALL} NOT {_ALL})"


def _risk_tags(risk: float | None) -> list[str]:
    """Risk as tokens: its tenth (`rt6`), its hundredth (`rh63`, floor), and `rx` when it is
    exactly that hundredth, so any comparison with a two-decimal threshold is exact."""
    if risk is None or not 0 <= risk <= 1:
        return []
    scaled = risk * 100
    hundredth = int(scaled + 1e-9)  # 0.29 * 100 is 28.999999999999996
    tags = [f"rt{hundredth // 10}", f"rh{hundredth}"]
    return tags + ["rx"] if abs(scaled - round(scaled)) < 1e-9 else tags


def _row(m: Mention, doc: str, title_seg: str, body_seg: str) -> _Row:
    tags = ["z", _tag("s", m.source), *(_tag("i", n) for n in m.institutions), *(_tag("c", c) for c in m.categories)]
    tags += [_tag("p", m.polarity)] if m.polarity else []
    tags += [_tag("a", m.author)] if m.author else []
    tags += ["k"] if m.corrections else []  # `corrected_only`
    when = m.published_at or m.fetched_at
    labels = tuple(dict.fromkeys([("i", n) for n in m.institutions] + [("c", c) for c in m.categories]))
    return _Row(m.id, m.source, m.polarity, _ms(when), when.timestamp(), m.risk, m.group_id or m.id, doc,
                title_seg, body_seg, " ".join(tags + _risk_tags(m.risk)), labels)


def _segment(texts: Sequence[tuple[str, str]]) -> list[tuple[str, str] | str]:
    """The index tokens of each (title, text), or why they cannot be made (a title or text that is
    not a string): that mention is refused, the others are written. Runs in worker processes for a
    large write, so only strings go there and back: pickling the mentions in and their rows out
    cost more CPU than building the rows here (about 25 against 4 us a mention)."""
    out: list[tuple[str, str] | str] = []
    for title, body in texts:
        try:
            out.append((index_tokens(title), index_tokens(body)))
        except Exception as e:  # noqa: BLE001 - whatever one text raises, it refuses that mention alone
            out.append(f"cannot segment its title or text: {type(e).__name__}: {e}")
    return out


_FIELDS = tuple(f.name for f in fields(Mention))
_values = operator.attrgetter(*_FIELDS)
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _doc(m: Mention) -> str:
    """`m.to_dict()` as JSON, without the copies of its lists that `to_dict` makes for a caller
    who may change them (a third of the writing process's Python work per mention)."""
    out = dict(zip(_FIELDS, _values(m), strict=True))
    for name in ("published_at", "fetched_at"):
        value = out[name]
        out[name] = value.isoformat() if value is not None else None
    return _dumps(out)


def _prepare(m: Mention, segmented: tuple[str, str] | str) -> _Row | tuple[str, str]:
    """The row of `m` with its segmented title and text, or (id, reason) when it cannot be stored."""
    if isinstance(segmented, str):
        return getattr(m, "id", "?"), segmented
    try:
        return _row(m, _doc(m), *segmented)
    except (TypeError, ValueError, AttributeError) as e:
        return getattr(m, "id", "?"), f"cannot serialise: {e}"


def _corrected(stored: dict[str, Any], row: _Row) -> _Row:
    """`row` written over a stored mention a person corrected: the people's values stay
    (`keep_corrections`), and its tags follow them."""
    m = keep_corrections(Mention.from_dict(stored), Mention.from_dict(json.loads(row.doc)))
    return _row(m, _doc(m), row.title_seg, row.body_seg)


def _delete(db: sqlite3.Connection, rowids: Iterable[int]) -> None:
    """Delete the mentions at `rowids`: from the index first, which an external-content index
    is told with the very text it was given (still in `mention_docs`), then the rows."""
    params = [(rowid,) for rowid in sorted(rowids)]  # in rowid order: see `_insert_many`
    for sql in ("INSERT INTO mention_index (mention_index, rowid, title, body, tags) "
                "SELECT 'delete', rowid, title, body, tags FROM mention_text WHERE rowid = ?",
                "DELETE FROM mention_docs WHERE seq = (SELECT doc_seq FROM mentions WHERE rowid = ?)",
                "DELETE FROM mentions WHERE rowid = ?", "DELETE FROM mention_labels WHERE mention_rowid = ?"):
        db.executemany(sql, params)


def _allocate(db: sqlite3.Connection, rows: Sequence[_Row], wanted: Sequence[int | None]) -> list[int]:
    """A rowid for each row: the one wanted, else the next free one of its millisecond after those
    stored (one query for all the milliseconds), neither wanted nor given to an earlier row; a full
    millisecond spills over into the next."""
    taken = {rowid for rowid in wanted if rowid is not None}
    bases = sorted({row.ms * ROWIDS_PER_MS for row, rowid in zip(rows, wanted, strict=True) if rowid is None})
    free: dict[int, int] = {}
    if bases:
        found = db.execute("SELECT value, (SELECT max(rowid) FROM mentions WHERE rowid >= value AND rowid < value + ?) "
                           "FROM json_each(?)", (ROWIDS_PER_MS, json.dumps(bases)))
        free = {base: base if last is None else last + 1 for base, last in found}
    out = []
    for row, rowid in zip(rows, wanted, strict=True):
        if rowid is None:
            base = row.ms * ROWIDS_PER_MS
            rowid = free[base]
            while rowid in taken or rowid >= base + ROWIDS_PER_MS and db.execute(
                    "SELECT 1 FROM mentions WHERE rowid = ?", (rowid,)).fetchone():
                rowid += 1
            free[base] = rowid + 1
            taken.add(rowid)
        out.append(rowid)
    return out


def _insert_many(db: sqlite3.Connection, rows: Sequence[_Row], wanted: Sequence[int | None] | None = None) -> list[int]:
    """Insert `rows`, each at its `wanted` rowid or at the next free id of its millisecond; their rowids.
    One statement per table for all of them, in rowid order: FTS5 writes its pending terms out as a
    new segment whenever a write's rowid is below the one before, so a chunk in time order makes one
    segment (two with updates: the deletes, then the inserts) where rows in arrival order made one
    every other row, and FTS5 then spent the write merging them."""
    rowids = _allocate(db, rows, wanted or [None] * len(rows))
    placed = sorted(zip(rowids, rows, strict=True), key=lambda pair: pair[0])
    first = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM mention_docs").fetchone()[0]  # appended
    db.executemany("INSERT INTO mention_docs VALUES (?, ?, ?, ?, ?)",
                   [(seq, r.doc, r.title_seg, r.body_seg, r.tags) for seq, (_, r) in enumerate(placed, first)])
    db.executemany("INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(rowid, r.id, r.source, r.polarity, r.published_ts, r.risk, r.group_id, seq)
                    for seq, (rowid, r) in enumerate(placed, first)])
    db.executemany("INSERT INTO mention_index (rowid, title, body, tags) VALUES (?, ?, ?, ?)",
                   [(rowid, r.title_seg, r.body_seg, r.tags) for rowid, r in placed])
    db.executemany("INSERT INTO mention_labels VALUES (?, ?, ?)",
                   [(k, v, rowid) for rowid, r in placed for k, v in r.labels])
    return rowids


def _insert(db: sqlite3.Connection, row: _Row) -> int:
    """Insert one row at the next free id of its millisecond; its rowid."""
    return _insert_many(db, [row])[0]


def _upsert(db: sqlite3.Connection, rows: Sequence[_Row], report: IndexReport) -> list[int]:
    """Write `rows` over the stored mentions of the same ids, in order (a later copy of an id in
    `rows` is written over the earlier one); the rowids deleted and inserted."""
    changed: list[int] = []
    start = 0
    while start < len(rows):  # runs of distinct ids: each run's stored rows are looked up at once
        seen: set[str] = set()
        end = start
        while end < len(rows) and rows[end].id not in seen:
            seen.add(rows[end].id)
            end += 1
        changed += _upsert_distinct(db, rows[start:end], report)
        start = end
    return changed


def _upsert_distinct(db: sqlite3.Connection, rows: Sequence[_Row], report: IndexReport) -> list[int]:
    # The stored document only when it carries corrections: the one case that changes what is written.
    stored = {i: (rowid, doc) for i, rowid, doc in db.execute(
        "SELECT m.id, m.rowid, CASE WHEN json_array_length(d.doc, '$.corrections') > 0 THEN d.doc END "
        "FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq WHERE m.id IN (SELECT value FROM json_each(?))",
        (json.dumps([row.id for row in rows], ensure_ascii=False),))}
    written: list[_Row] = []
    wanted: list[int | None] = []
    deleted: list[int] = []
    for row in rows:
        old = stored.get(row.id)
        if old is None:
            report.created += 1
            wanted.append(None)
        else:
            rowid, doc = old
            if doc:
                row = _corrected(json.loads(doc), row)
            deleted.append(rowid)
            # Same millisecond: the same place in time order (a replay changes no rowid).
            wanted.append(rowid if rowid // ROWIDS_PER_MS == row.ms else None)
            report.updated += 1
        written.append(row)
    _delete(db, deleted)
    return deleted + _insert_many(db, written, wanted)


def _write(db: sqlite3.Connection, rows: Sequence[_Row], report: IndexReport) -> None:
    """Upsert `rows` in one transaction: one statement per table for all of them, so FTS5 writes
    one segment for the transaction, not one per worker's chunk (the writer spent 46-50 us a
    mention against 54-55 in chunks of 500: `bench_write_parts.py`, random times)."""
    db.execute("BEGIN IMMEDIATE")
    _log(db, _upsert(db, rows, report))
    db.execute("COMMIT")


def _log(db: sqlite3.Connection, rowids: Iterable[int]) -> None:
    """Note rows inserted or deleted, for every process's column index; forget what all but the
    slowest readers saw long ago (one that fell further behind reloads)."""
    db.executemany("INSERT INTO mention_changes (mention_rowid) VALUES (?)", [(r,) for r in rowids])
    db.execute("DELETE FROM mention_changes WHERE seq <= (SELECT max(seq) FROM mention_changes) - ?",
               (CHANGES_KEPT,))


def _stamp(db: sqlite3.Connection, seq: int) -> dict[str, int]:
    """What a snapshot of the columns as of log entry `seq` must match: the schema, and the rowid
    that entry logged (another file, or this one rebuilt, logged another or has no such entry)."""
    row = db.execute("SELECT mention_rowid FROM mention_changes WHERE seq = ?", (seq,)).fetchone()
    return {"schema": len(MIGRATIONS), "seq_rowid": row[0] if row else -1}


def _bounds(db: sqlite3.Connection) -> tuple[int, int]:
    """The first and last rowids of the table ((-1, -1) when empty), each one index seek."""
    first, last = db.execute("SELECT (SELECT min(rowid) FROM mentions), (SELECT max(rowid) FROM mentions)").fetchone()
    return (-1, -1) if first is None else (first, last)


def _text(node: Node) -> bool:
    """Whether `node` holds only terms (no field filters)."""
    if isinstance(node, Term):
        return True
    if isinstance(node, Not):
        return _text(node.item)
    return isinstance(node, (And, Or)) and bool(node.items) and all(_text(item) for item in node.items)


def _frequent(cols: Columns, node: Node) -> bool:
    """Whether `node` is a frequent word (or its NOT), whose matches the columns hold as a bit."""
    if isinstance(node, Not):
        return _frequent(cols, node.item)
    return isinstance(node, Term) and _fts(node) in cols.terms.code


def _hits(db: sqlite3.Connection, word: str) -> int:
    """How many mentions have `word` in their title or body, as FTS5 counts them."""
    return int(db.execute("SELECT count(*) FROM mention_index WHERE mention_index MATCH ?",
                          (text_match(word),)).fetchone()[0])


def _risk_mask(risk: npt.NDArray[np.float64], op: str, value: str) -> Mask:
    """`risk:` compared as the query says; a mention without a risk (or outside 0..1) matches none."""
    threshold = float(value)
    compare = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "=": np.equal}[op]
    with np.errstate(invalid="ignore"):
        return np.asarray(compare(risk, threshold) & (risk >= 0) & (risk <= 1))


# -- the query as one FTS5 expression ------------------------------------------------------------

def _fts_phrase(tokens: list[str]) -> str:
    quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
    if len(quoted) == 1:
        return quoted[0]
    return f"NEAR({' '.join(quoted)}, {near_distance(tokens)})"


def _cover(low: int, high: int) -> list[str]:
    """Risk tokens for hundredths `low`..`high`: whole tenths where they fit, hundredths elsewhere."""
    tokens, h = [], low
    while h <= high:
        if h % 10 == 0 and h + 9 <= high and h < 100:
            tokens.append(f"rt{h // 10}")
            h += 10
        else:
            tokens.append(f"rh{h}")
            h += 1
    return tokens


def _risk_fts(op: str, value: str) -> str:
    t = int(Decimal(value) * 100)
    exact, inexact = f"(tags : rh{t} AND tags : rx)", f"(tags : rh{t} NOT tags : rx)"
    tokens = _cover(t + 1, 100) if op == ">" else _cover(t, 100) if op == ">=" else _cover(0, t - 1)
    parts = [f"tags : ({' OR '.join(tokens)})"] if tokens and op != "=" else []
    parts += {">": [inexact], "<=": [exact], "=": [exact]}.get(op, [])
    return "(" + " OR ".join(parts) + ")" if parts else _NOTHING


def _fts(node: Node) -> str:
    """The query tree as an FTS5 expression: terms look in title and body, fields in tags."""
    if isinstance(node, Term):
        tokens = query_tokens(node.text)
        return text_match(tokens[0]) if len(tokens) == 1 else "{title body} : " + _fts_phrase(tokens)
    if isinstance(node, Field):
        if node.name == "risk":
            return _risk_fts(node.op, node.value)
        return f'tags : "{_tag(FIELD_TAGS[node.name], node.value)}"'
    if isinstance(node, Not):  # FTS5's NOT is binary: everything (z) but the item
        return f"({_ALL} NOT {_fts(node.item)})"
    if isinstance(node, Or):
        return "(" + " OR ".join(_fts(item) for item in node.items) + ")" if node.items else _NOTHING
    wanted = [_fts(item) for item in node.items if not isinstance(item, Not)] or [_ALL]
    unwanted = [_fts(item.item) for item in node.items if isinstance(item, Not)]
    expr = "(" + " AND ".join(wanted) + ")"
    return f"({expr} NOT ({' OR '.join(unwanted)}))" if unwanted else expr


def _match(request: SearchRequest) -> str | None:
    """The request's query and filters as one FTS5 expression; None when nothing restricts it."""
    nodes: list[Node] = [request.query] if request.query is not None else []
    nodes += [Field(name, value) for name, value in (("polarity", request.polarity), ("source", request.source),
                                                      ("institution", request.institution)) if value]
    if request.allowed_institutions is not None:
        nodes.append(Or(tuple(Field("institution", n) for n in request.allowed_institutions)))
    parts = [_fts(nodes[0] if len(nodes) == 1 else And(tuple(nodes)))] if nodes else []
    if request.corrected_only:
        parts.append("tags : k")
    return " AND ".join(f"({p})" for p in parts) if parts else None


def _group(request: SearchRequest, column: str = "rowid") -> tuple[str, list[object]]:
    """The `group_id` filter as a condition on `column` to AND onto a query of rowids ("" without one)."""
    if request.group_id is None:
        return "", []
    return f" AND {column} IN (SELECT rowid FROM mentions WHERE group_id = ?)", [request.group_id]


def _rowid_bounds(request: SearchRequest) -> tuple[int, int]:
    """The inclusive rowid range of the date bounds (milliseconds)."""
    low = _ms(request.since) * ROWIDS_PER_MS if request.since else _ROWID_RANGE[0]
    high = _ms(request.until) * ROWIDS_PER_MS - 1 if request.until else _ROWID_RANGE[1]
    return low, high


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` in WAL mode with foreign keys on, shared between
    threads under the caller's lock (the store and the web app's state both open theirs here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout, isolation_level=None)
    # Only a new file takes it (before WAL is on): 8 KB pages cost a write about 20 us a mention less
    # than 4 KB ones (fewer WAL frames and page splits at each commit); older files keep theirs.
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
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
        self._columns = Columns()  # loaded by the first search
        self._saved_seq = -1  # the log position of the snapshot this process read or wrote
        self._fts_cache: dict[tuple[str, int, int], tuple[int, Mask]] = {}
        try:
            self._db = connect(self.path, self.BUSY_TIMEOUT)
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Searches read the index pages again and again: map them instead of copying them in.
            self._db.execute("PRAGMA mmap_size = 1073741824")
            # Ids are hashes: each write lands on a random page of the id index, which the 2 MB default
            # cache keeps re-reading once a store passes a few hundred thousand mentions.
            self._db.execute("PRAGMA cache_size = -65536")
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
        """Upserts. A large write is segmented in worker processes; each chunk's rows are built as it
        comes back while the workers segment the next ones, and stored `WRITE_ROWS` at a time, one
        transaction each; a small one is segmented before the write lock is taken."""
        report = IndexReport()
        mentions = list(mentions)
        chunks = chunked_map(_segment, [(m.title, m.content) for m in mentions])
        with self._errors(f"write {len(mentions)} mentions") as db:
            try:
                done = 0
                rows: list[_Row] = []
                for segmented in chunks:
                    for m, texts in zip(mentions[done:done + len(segmented)], segmented, strict=True):
                        row = _prepare(m, texts)
                        if isinstance(row, _Row):
                            rows.append(row)
                        else:
                            report.failed.append(row)
                    done += len(segmented)
                    if len(rows) >= WRITE_ROWS:
                        _write(db, rows, report)
                        rows = []
                if rows:
                    _write(db, rows, report)
            except BaseException:  # a worker failing or an interrupt mid-transaction: nothing half-written
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return report

    # -- reads ----------------------------------------------------------------------------------

    def _mention(self, doc: str) -> Mention:
        m = Mention.from_dict(json.loads(doc))
        if m.published_at is not None:
            m.published_at = m.published_at.astimezone(self.tz)
        return m

    def get(self, mention_id: str) -> Mention | None:
        with self._errors(f"read mention {mention_id}") as db:
            row = db.execute("SELECT d.doc FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq WHERE m.id = ?",
                             (mention_id,)).fetchone()
        return self._mention(row[0]) if row else None

    @staticmethod
    def _matching(request: SearchRequest, column: str = "rowid") -> tuple[str, list[object]]:
        """An SQL condition on `column` (a mentions rowid) for the mentions the request matches."""
        match = _match(request)
        low, high = _rowid_bounds(request)
        if match is None:
            group, group_params = _group(request, column)
            return f"{column} BETWEEN ? AND ?{group}", [low, high, *group_params]
        group, group_params = _group(request)  # inside the index's subquery: its own rowid
        return (f"{column} IN (SELECT rowid FROM mention_index WHERE mention_index MATCH ? AND rowid BETWEEN ? AND ?"
                f"{group})", [match, low, high, *group_params])

    def search(self, request: SearchRequest) -> SearchResult:
        after = read_cursor(request)
        order = request.order
        with self._errors("search") as db, self._snapshot(db) as cols:
            mask = self._mask(db, cols, request)
            total = int(np.count_nonzero(mask))
            page = self._page(db, cols, request, mask, order, after["k"] if after else None) if request.limit else []
            more = len(page) > request.limit
            page = page[:request.limit]
            docs = dict(db.execute("SELECT m.rowid, d.doc FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq "
                                   f"WHERE m.rowid IN ({', '.join('?' * len(page))})",
                                   [rowid for rowid, _ in page]).fetchall()) if page else {}
            facets = self._facets(cols, request, mask) if request.facets else None
        hits, mark = [], highlighter(request.query)
        for rowid, key in page:
            m = self._mention(docs[rowid])
            score = -key if order == "relevance" and key != _UNRANKED else 0.0
            hits.append(Hit(m, mark(m.text), score))
        next_cursor = make_cursor(request, [page[-1][1], page[-1][0]]) if more else None
        return SearchResult(total, hits, next_cursor, facets)

    @contextmanager
    def _snapshot(self, db: sqlite3.Connection) -> Iterator[Columns]:
        """The column index caught up with the file, and one read transaction: the columns and
        every FTS5 lookup of the search see the same rows, whatever another process commits."""
        db.execute("BEGIN")
        try:
            first = self._columns.seq < 0
            if first:
                self._columns = self._warm(db)
            whole = self._columns.refresh(db)
            if first and not whole and _bounds(db) != self._columns.bounds():
                log.warning("the column snapshot %s does not match %s once caught up: reading the table",
                            self.snapshot_path, self.path)
                self._columns = Columns()
                whole = self._columns.refresh(db)
            if whole or self._columns.seq - self._saved_seq >= SNAPSHOT_LAG:
                self._save_columns(db)
            yield self._columns
        finally:
            db.execute("COMMIT")

    @property
    def snapshot_path(self) -> Path:
        return self.path.with_name(self.path.name + ".columns")

    def _warm(self, db: sqlite3.Connection) -> Columns:
        """The snapshot's columns when its stamp matches this file (they are caught up and checked
        after), else empty columns, which the first refresh fills from the whole table."""
        if not self.snapshot_path.exists():
            return Columns()
        try:
            cols, stamp = Columns.load(self.snapshot_path)
        except SnapshotError as e:
            log.warning("cannot use the column snapshot %s (%s): reading the table", self.snapshot_path, e)
            return Columns()
        if stamp != _stamp(db, cols.seq):
            log.info("the column snapshot %s is not of %s as it is now: reading the table",
                     self.snapshot_path, self.path)
            return Columns()
        self._saved_seq = cols.seq
        return cols

    def _save_columns(self, db: sqlite3.Connection) -> None:
        """Write the snapshot; a failure is logged, never raised: the search goes on without it."""
        try:
            self._columns.save(self.snapshot_path, _stamp(db, self._columns.seq))
            # The zipped layout of snapshot formats 1 and 2, under its own name: no process reads it now.
            self.path.with_name(self.path.name + ".columns.npz").unlink(missing_ok=True)
        except (OSError, SnapshotError) as e:
            log.warning("cannot write the column snapshot %s: %s", self.snapshot_path, e)
            return
        self._saved_seq = self._columns.seq

    def _rowids(self, db: sqlite3.Connection, match: str, low: int, high: int) -> npt.NDArray[np.int64]:
        """The rowids FTS5 matches, as one string SQLite builds (a Python row per match costs more
        than the lookup)."""
        text = db.execute("SELECT group_concat(rowid, ' ') FROM mention_index WHERE mention_index MATCH ? "
                          "AND rowid BETWEEN ? AND ?", (match, low, high)).fetchone()[0]
        return integers(text)

    def forget_cached_answers(self) -> None:
        """Drop the FTS5 answers kept for searches to come: the next search of any words asks FTS5
        again, as a user's first search of them does (what the benchmarks time as a first run)."""
        with self._lock:
            self._fts_cache.clear()

    def _fts_mask(self, db: sqlite3.Connection, cols: Columns, match: str, low: int, high: int) -> Mask:
        """The positions an FTS5 expression matches: a frequent word's bit in the columns, else
        FTS5's answer. The last few of those are kept until the store changes: paging, sorting or
        faceting one search again asks FTS5 nothing."""
        key = (match, low, high)
        cached = self._fts_cache.get(key)
        if cached is None or cached[0] != cols.seq:
            frequent = cols.term(match)
            mask = cols.of_rowids(self._rowids(db, match, low, high)) if frequent is None else frequent
            mask.flags.writeable = False  # shared by the searches that hit the cache
            cached = (cols.seq, mask)
            self._fts_cache[key] = cached
            while len(self._fts_cache) > FTS_CACHE:
                del self._fts_cache[next(iter(self._fts_cache))]
        else:
            self._fts_cache[key] = self._fts_cache.pop(key)  # most recently used last
        return cached[1]

    def _node(self, db: sqlite3.Connection, cols: Columns, node: Node, low: int, high: int) -> Mask:
        """The positions `node` matches (only those between rowids `low` and `high` are exact).
        Text alone (terms, their ORs, and their NOTs beside a term) is one FTS5 expression:
        FTS5 intersects doclists faster than masks of every word's matches are built. A frequent
        word's bit is faster still: it stays out of the expression."""
        if isinstance(node, Term) or (isinstance(node, (And, Or)) and _text(node)
                                      and not any(_frequent(cols, item) for item in node.items)):
            return self._fts_mask(db, cols, _fts(node), low, high)
        if isinstance(node, Field):
            if node.name in ("source", "polarity"):
                return cols.equal(node.name, node.value)
            if node.name in ("institution", "category"):
                return cols.label(FIELD_TAGS[node.name], [node.value])
            if node.name == "risk":
                return _risk_mask(cols.risk, node.op, node.value)
            return self._fts_mask(db, cols, _fts(node), low, high)  # author: rare, kept as a token
        if isinstance(node, Not):
            return ~self._node(db, cols, node.item, low, high)
        items = node.items
        grouped = [_text(item) and not _frequent(cols, item) for item in items]
        text = tuple(item for item, g in zip(items, grouped, strict=True) if g)
        if len(text) > 1 and (isinstance(node, Or) or any(not isinstance(item, Not) for item in text)):
            # the rest of the text part as one expression
            items = (type(node)(text), *(item for item, g in zip(items, grouped, strict=True) if not g))
        masks = [self._node(db, cols, item, low, high) for item in items]
        if isinstance(node, Or):
            return np.logical_or.reduce(masks) if masks else cols.none()
        return np.logical_and.reduce(masks) if masks else ~cols.none()

    def _mask(self, db: sqlite3.Connection, cols: Columns, request: SearchRequest) -> Mask:
        """The positions the request matches."""
        low, high = _rowid_bounds(request)
        within = cols.between(low, high)
        mask = cols.none()
        mask[within] = True
        if request.query is not None:
            mask &= self._node(db, cols, request.query, low, high)
        for column, value in (("polarity", request.polarity), ("source", request.source),
                              ("group", request.group_id)):
            if value is not None:
                mask &= cols.equal(column, value)
        if request.institution:
            mask &= cols.label("i", [request.institution])
        if request.allowed_institutions is not None:
            mask &= cols.label("i", request.allowed_institutions)
        if request.corrected_only:
            mask &= cols.of_rowids(self._rowids(db, "tags : k", low, high))
        return mask

    def _page(self, db: sqlite3.Connection, cols: Columns, request: SearchRequest, mask: Mask, order: str,
              after: list[Any] | None) -> list[tuple[int, float]]:
        """(rowid, sort key) of the page's hits and one more (is there a next page?), in order."""
        pos = np.flatnonzero(mask)  # oldest first: rowids are time-ordered
        start, need = request.offset, request.offset + request.limit + 1
        if order == "risk":
            key = np.nan_to_num(cols.risk[pos], nan=-1.0)
            if after:
                rowid = cols.rowid[pos]
                later = (key < after[0]) | ((key == after[0]) & (rowid < after[1]))
                pos, key = pos[later], key[later]
            if len(pos) > need:  # only the `need` highest keys are sorted
                threshold = np.partition(key, len(key) - need)[len(key) - need]
                above, tied = np.flatnonzero(key > threshold), np.flatnonzero(key == threshold)
                chosen = np.concatenate([above, tied[::-1][:need - len(above)]])
                pos, key = pos[chosen], key[chosen]
            ranked = np.lexsort((-cols.rowid[pos], -key))[start:need]
            return [(int(cols.rowid[pos[i]]), float(key[i])) for i in ranked]
        ranked_part: list[tuple[int, float]] = []
        if order == "relevance" and positive_terms(request.query):
            window, pos = pos[-RELEVANCE_WINDOW:], pos[:-RELEVANCE_WINDOW]
            ranked_part = self._ranked(db, cols, request, window)
            if after:
                ranked_part = [(r, k) for r, k in ranked_part
                               if k > after[0] or (k == after[0] and r < after[1])]
            if len(ranked_part) >= need:
                return ranked_part[start:need]
        newest = cols.rowid[pos][::-1]
        if after:
            newest = newest[newest < after[1]]
        rest = [(int(r), _UNRANKED if order == "relevance" else 0.0) for r in newest[:need - len(ranked_part)]]
        return (ranked_part + rest)[start:need]

    def _ranked(self, db: sqlite3.Connection, cols: Columns, request: SearchRequest,
                window: npt.NDArray[np.int64]) -> list[tuple[int, float]]:
        """The `window`'s rows by bm25 of the query's terms (best first, then newest); a row that
        matched without any of them (`a OR -b`) goes after the others. The score is FTS5's; for words
        with more than `RANK_FROM_PARTS` matches it is computed from its parts (`sqlite_bm25`), as
        FTS5's `bm25()` would first walk each of their whole doclists."""
        if not len(window):
            return []
        rowids = cols.rowid[window]
        positive = positive_terms(request.query)
        terms = " OR ".join(_fts(Term(t)) for t in positive)
        phrases = [token for t in positive for token in query_tokens(t)]  # FTS5's phrases of `terms`, in order
        counts = {p: cols.term_count(text_match(p)) for p in phrases}
        ranks = bm25(db, rowids, phrases, terms, lambda p: counts[p] or _hits(db, p)) \
            if sum(n or 0 for n in counts.values()) >= RANK_FROM_PARTS else None
        if ranks is None:  # `+rowid`: the list filters the range's matches before bm25() ranks them
            ranks = dict(db.execute(
                "SELECT rowid, rank FROM mention_index WHERE mention_index MATCH ? AND rowid BETWEEN ? AND ? "
                f"AND +rowid IN ({', '.join('?' * len(rowids))})",
                (terms, int(rowids[0]), int(rowids[-1]), *rowids.tolist())).fetchall())
        keyed = [(int(r), float(ranks.get(int(r), _UNRANKED))) for r in rowids]
        return sorted(keyed, key=lambda rk: (rk[1], -rk[0]))

    def _timeline_counts(self, cols: Columns, mask: Mask, origin: datetime,
                         interval_seconds: int) -> dict[int, dict[str, int]]:
        if not mask.any():
            return {}
        buckets = np.floor((cols.ts[mask] - origin.timestamp()) / interval_seconds).astype(np.int64)
        first, kinds = int(buckets.min()), len(cols.polarities.names)
        counts = np.bincount((buckets - first) * kinds + cols.polarity[mask])
        out: dict[int, dict[str, int]] = {}
        for cell in np.flatnonzero(counts).tolist():
            out.setdefault(first + cell // kinds, {})[cols.polarities.names[cell % kinds]] = int(counts[cell])
        return out

    def _facets(self, cols: Columns, request: SearchRequest, mask: Mask) -> Facets:
        assert request.facets is not None
        size, interval = request.facets.size, request.facets.interval_seconds
        origin = request.since or datetime(1970, 1, 1, tzinfo=self.tz)
        return Facets(
            timeline=timeline(self._timeline_counts(cols, mask, origin, interval), origin, interval),
            sources=top(cols.counts(mask, "source"), size),
            institutions=top(cols.label_counts(mask, "i"), size), categories=top(cols.label_counts(mask, "c"), size),
            groups=cols.top_groups(mask, size))

    def count_by_interval(self, since: datetime, until: datetime, interval_seconds: int, *,
                          institution: str | None = None, polarity: str | None = None,
                          source: str | None = None) -> list[tuple[datetime, int]]:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        request = SearchRequest(query=None, since=since, until=until, polarity=polarity, source=source,
                                institution=institution)
        with self._errors("count mentions") as db, self._snapshot(db) as cols:
            counts = self._timeline_counts(cols, self._mask(db, cols, request), since, interval_seconds)
        start = since.timestamp()
        n = max(0, int(-(-(until.timestamp() - start) // interval_seconds)))
        tz = since.tzinfo or UTC
        return [(datetime.fromtimestamp(start + i * interval_seconds, tz), sum(counts.get(i, {}).values()))
                for i in range(n)]

    def scan_rows(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH,
                  after_rowid: int | None = None) -> Iterator[tuple[int, list[Mention]]]:
        """`scan`, with the last rowid of each batch: `yuqing migrate` keeps it as its checkpoint and
        resumes after it. Keyset paging on rowid, so batch 1,000 costs what batch 1 does; the lock is
        held for one batch at a time, so writers go on between batches."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if after_rowid is None:  # from the start: rowids before 1970 are negative
            after_rowid = _ROWID_RANGE[0]
        where, params = self._matching(request or SearchRequest(query=None), "m.rowid")
        while True:
            with self._errors("scan mentions") as db:
                rows = db.execute(f"SELECT m.rowid, d.doc FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq "
                                  f"WHERE {where} AND m.rowid > ? ORDER BY m.rowid LIMIT ?",
                                  [*params, after_rowid, batch_size]).fetchall()
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
        after = _ROWID_RANGE[0]
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
                rowids = [r for r, in db.execute("SELECT rowid FROM mentions WHERE published_ts < ? LIMIT ?",
                                                 (cutoff, PRUNE_BATCH))]
                _delete(db, rowids)
                _log(db, rowids)
                n = len(rowids)
                db.execute("COMMIT")
            deleted += n
            if n < PRUNE_BATCH:
                return deleted

    def count(self) -> int:
        with self._errors("count mentions") as db:
            return int(db.execute("SELECT count(*) FROM mentions").fetchone()[0])

    def close(self) -> None:
        """Idempotent; every later call raises `StoreError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


__all__ = ["MIGRATIONS", "SqliteStore", "migrate"]
