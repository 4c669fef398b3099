"""The SQLite store's column index: the fields searches filter, sort and count on, in memory.

FTS5 answers text terms well, but a filter written as an index token (`source:weibo`, a polarity,
an institution) makes FTS5 walk a doclist as long as the store, and a facet read every matching
row: hundreds of milliseconds at a million mentions. Here each filter field is a numpy column in
rowid order (rowids are time-ordered, see `yuqing.storage.sqlite`), so a filter is a comparison
over one column, a query is boolean masks combined by its tree, and a facet is a `bincount` over
the matching positions. FTS5 is asked only for the rowids of text terms (and of the rare filters
kept as tokens: author, corrected).

The columns are loaded on a store's first search and kept current from `mention_changes`, the log
of rowids each write inserted or deleted (every process writing the file appends to it): each
search reads the log's newest sequence number and, when it moved, re-reads only the rows logged
since (the whole table when the log was trimmed past what this process saw, or when most of the
rows changed).

A common word (`银行`, in nearly half of a bank's mentions) is the one text term FTS5 is slow on:
it walks a doclist as long as half the store and SQLite prints every matching rowid. So the
words in at least `FREQUENT_SHARE` of the rows (at most 64, found in a sample when the whole
table is read) get one bit each in a `bits` column: the rows that FTS5 expression of the word
matches. A search for such a word reads its bit instead of asking FTS5. The bits of rows a log
entry names are found by copying those rows' text into a scratch FTS5 index of the same
tokenizer and asking it, so they are exactly FTS5's answers however the text is written.

A new process (one `yuqing search`) would pay that whole-table load each time, so the columns are
also kept in a snapshot beside the file (`save` / `load`), stamped with the log position they
reflect; the store loads it, checks the stamp against the file, and catches up from the log.
"""
from __future__ import annotations

import json
import mmap
import os
import re
import sqlite3
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsIndex, overload

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

# Log rows kept for processes that have not caught up; one that fell further behind reloads.
CHANGES_KEPT = 200_000
# Changed rows past this share of the store reload the whole table: cheaper than merging.
RELOAD_SHARE = 0.2
# Risk and time are held to the millionth (of one, of a second): what a full load reads as integers.
RISK_SCALE = 1_000_000
_SEP = "\x1f"  # the unit separator: joins the string columns of a full load
_IN_CHUNK = 900  # host parameters per `rowid IN (...)`, under SQLite's default limit
# The snapshot's layout; a file of another layout is not read (bump on any change to `save`).
SNAPSHOT_FORMAT = 3
_MAGIC = b"yuqing column snapshot\n"
_PREFIX = struct.Struct("<IQ")  # after the magic: the CRC-32 of the rest, the header's length
_ALIGN = 64  # each saved array starts at a multiple of this in the file
_VERIFIED_KEPT = 16  # snapshot files (by identity) whose checksum this process has found right
_verified: dict[tuple[int, ...], None] = {}
_CHECK_BLOCK = 1 << 16  # labels compared with their rows' rowids at a time when a snapshot is loaded
_NUMERIC = ("rowid", "ts", "source", "polarity", "risk", "group", "bits", "label_rowid", "label_kind", "label_code")
_SAVED = (*_NUMERIC, "label_pos")
_NAMES = ("sources", "polarities", "groups", "institutions", "categories", "terms")
# Frequent words get a bit each in the `bits` column (see `Columns`): words in at least this share of
# the rows (and this many), at most this many words, found in a sample of this many rows.
FREQUENT_SHARE = 0.05
FREQUENT_MIN_ROWS = 50
FREQUENT_TERMS = 64
FREQUENT_SAMPLE = 5000
_SCRATCH = "temp.yuqing_scratch_index"  # the rows whose bits are being found, in an index of their own


def integers(text: str | None) -> Ints:
    """The integers of a `group_concat(..., ' ')` answer (None when nothing matched). numpy parses
    the string itself: seven times faster than splitting it into Python strings first (10 ms
    against 71 ms for the 450,000 rowids of a common word)."""
    return np.fromstring(text, dtype=np.int64, sep=" ") if text else np.zeros(0, np.int64)


def text_match(word: str) -> str:
    """The FTS5 expression of one word in a mention's title or body: what a one-word query term is."""
    return '{title body} : "' + word.replace('"', '""') + '"'


def _tokenizer(db: sqlite3.Connection) -> str | None:
    """The mention index's `tokenize` option as written in its schema; None when the index cannot
    give its rows' text back (contentless): then no word gets a bit. An external-content index
    reads its text from its content table (the store's `mention_text`), so it can."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'mention_index'").fetchone()
    if row is None or re.search(r"\bcontent\s*=\s*(''|\"\")", row[0], re.IGNORECASE):
        return None
    found = re.search(r"\btokenize\s*=\s*('(?:[^']|'')*'|\"[^\"]*\"|[^,)\s]+)", row[0], re.IGNORECASE)
    return found.group(1) if found else "unicode61"


@contextmanager
def _scratch(db: sqlite3.Connection, tokenize: str, rowids: Ints) -> Iterator[str]:
    """The title and body of `rowids` in a temporary FTS5 index with the mention index's tokenizer
    (inside the caller's read transaction: the temp schema is this connection's alone); its name."""
    db.execute(f"DROP TABLE IF EXISTS {_SCRATCH}")
    db.execute(f"CREATE VIRTUAL TABLE {_SCRATCH} USING fts5 (title, body, tokenize = {tokenize})")
    try:
        for i in range(0, len(rowids), _IN_CHUNK):
            chunk = [int(r) for r in rowids[i:i + _IN_CHUNK]]
            db.execute(f"INSERT INTO {_SCRATCH} (rowid, title, body) SELECT rowid, title, body FROM main.mention_index "
                       f"WHERE rowid IN ({', '.join('?' * len(chunk))})", chunk)
        yield _SCRATCH
    finally:
        db.execute(f"DROP TABLE IF EXISTS {_SCRATCH}")


def _bits(db: sqlite3.Connection, table: str, rowid: Ints, matches: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Bit k set on the rows of `rowid` (sorted) that FTS5 index `table` matches for `matches[k]`."""
    bits = np.zeros(len(rowid), np.uint64)
    name = table.rsplit(".", 1)[-1]
    for k, match in enumerate(matches):
        found = integers(db.execute(f"SELECT group_concat(rowid, ' ') FROM {table} WHERE {name} MATCH ?",
                                    (match,)).fetchone()[0])
        bits[_positions(rowid, found)] |= np.uint64(1 << k)
    return bits


def _positions(sorted_values: Ints, wanted: Ints) -> Ints:
    """The positions in `sorted_values` of those of `wanted` it holds."""
    if not len(wanted) or not len(sorted_values):
        return np.zeros(0, np.int64)
    pos = np.searchsorted(sorted_values, wanted).clip(0, len(sorted_values) - 1)
    return pos[sorted_values[pos] == wanted]


class SnapshotError(ValueError):
    """A snapshot file that cannot be used: unreadable, of another layout, or inconsistent."""


class _Packed(Sequence[str]):
    """A snapshot's string table as saved, names joined by `_SEP`: a snapshot's repost groups are
    nearly one per mention, and a search reads a few of them (a facet's) or none, so one name is
    decoded when asked for, and all of them only when iterated (to search or grow the table)."""

    def __init__(self, joined: memoryview, count: int) -> None:
        self._joined, self._count = joined, count
        self._starts: Ints | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: SupportsIndex) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return list(self)[i]
        at = i.__index__()
        if not -self._count <= at < self._count:
            raise IndexError(at)
        if self._starts is None:  # where each name starts: after each separator
            seps = np.flatnonzero(np.frombuffer(self._joined, np.uint8) == ord(_SEP))
            self._starts = np.concatenate([[0], seps + 1, [len(self._joined) + 1]])
        at %= self._count
        return str(self._joined[self._starts[at]:self._starts[at + 1] - 1], "utf-8")

    def __iter__(self) -> Iterator[str]:
        names = str(self._joined, "utf-8").split(_SEP) if self._count else []
        if len(names) != self._count:
            raise SnapshotError(f"{len(names)} names, not {self._count}")
        return iter(names)


@dataclass
class Codes:
    """A string column as small integers: `names[code]`, and `code[name]`."""

    names: list[str] | _Packed = field(default_factory=list)  # a list, or a snapshot's table until it grows
    _code: dict[str, int] | None = None  # built from `names` when first asked: most searches never
    # look a repost group up by name

    @property
    def code(self) -> dict[str, int]:
        if self._code is None:
            self._code = dict(zip(self.names, range(len(self.names)), strict=True))
        return self._code

    def encode(self, values: Sequence[str]) -> Ints:
        code = self.code
        names = self.names = self.names if isinstance(self.names, list) else list(self.names)
        for v in dict.fromkeys(values):  # C loops wherever they can be: a full load encodes millions
            if v not in code:
                code[v] = len(names)
                names.append(v)
        return np.fromiter(map(code.__getitem__, values), np.int64, len(values))


@dataclass
class _Rows:
    """Rows read from the tables, in rowid order, not yet merged into the columns."""

    rowid: Ints
    ts: npt.NDArray[np.float64]
    source: Ints
    polarity: Ints
    risk: npt.NDArray[np.float64]
    group: Ints
    bits: npt.NDArray[np.uint64]  # bit k: the row matches `Columns.terms.names[k]`
    label_rowid: Ints
    label_kind: npt.NDArray[np.int8]  # 0 institution, 1 category
    label_code: Ints


LABEL_KINDS = {"i": 0, "c": 1}


class Columns:
    """The column index of one store file, as of log sequence number `seq`."""

    def __init__(self) -> None:
        self.seq = -1
        self.sources, self.polarities, self.groups = Codes(), Codes(), Codes()
        self.labels = (Codes(), Codes())  # institutions, categories
        self.terms = Codes()  # the FTS5 expressions of the frequent words (`text_match`): bit k of `bits`
        empty = np.zeros(0, np.int64)
        self.rowid: Ints = empty
        self.ts = np.zeros(0, np.float64)
        self.source, self.polarity, self.group = empty, empty, empty
        self.risk = np.zeros(0, np.float64)
        self.bits = np.zeros(0, np.uint64)
        self.label_rowid, self.label_code = empty, empty
        self.label_kind = np.zeros(0, np.int8)
        self.label_pos: Ints = empty  # the position of each label's row in `rowid`
        self._term_counts: dict[str, int | None] = {}  # `term_count`'s answers until the rows change

    def __len__(self) -> int:
        return len(self.rowid)

    def bounds(self) -> tuple[int, int]:
        """The first and last rowids ((-1, -1) when empty)."""
        return (int(self.rowid[0]), int(self.rowid[-1])) if len(self) else (-1, -1)

    def _codes(self) -> dict[str, Codes]:
        return dict(zip(_NAMES, (self.sources, self.polarities, self.groups, *self.labels, self.terms), strict=True))

    # -- the snapshot ---------------------------------------------------------------------------

    def save(self, path: Path, stamp: dict[str, int]) -> None:
        """Write the columns to `path` with `stamp` (what the store checks before trusting them), as
        one file renamed into place: a reader sees the old snapshot or the new one, never half.

        The layout is raw arrays a reader takes as they lie (no unzipping): `_MAGIC`, the CRC-32 of
        everything after it, the length of a JSON header, the header (format, log position, stamp,
        and each array's dtype, length and offset), then the arrays; code columns are saved in the
        narrowest integer type that holds them and each string table as its names joined by `_SEP`."""
        # The most a code column can hold: it is saved in the narrowest type that holds that.
        limits = {"source": len(self.sources.names), "polarity": len(self.polarities.names),
                  "group": len(self.groups.names), "label_pos": len(self),
                  "label_code": max(len(self.labels[0].names), len(self.labels[1].names))}
        pieces = [(name, getattr(self, name)) for name in _SAVED]
        pieces = [(name, array.astype(_narrowest(limits[name])) if name in limits else array) for name, array in pieces]
        for name, codes in self._codes().items():
            joined = _SEP.join(codes.names)
            if codes.names and joined.count(_SEP) != len(codes.names) - 1:
                raise SnapshotError(f"a {name} value holds the separator {_SEP!r}")
            pieces.append((f"names_{name}", np.frombuffer(joined.encode(), np.uint8)))
        arrays, offset = {}, 0
        for name, array in pieces:
            arrays[name] = [array.dtype.str, len(array), offset]
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        header = json.dumps({"format": SNAPSHOT_FORMAT, "seq": self.seq, "stamp": stamp, "arrays": arrays,
                             "counts": {name: len(codes.names) for name, codes in self._codes().items()}}).encode()
        header += b" " * (-(len(_MAGIC) + _PREFIX.size + len(header)) % _ALIGN)  # the arrays start aligned
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{id(self):x}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC + bytes(_PREFIX.size))
                crc = zlib.crc32(len(header).to_bytes(8, "little"))
                for chunk in (header, *(_padded(array) for _, array in pieces)):
                    f.write(chunk)
                    crc = zlib.crc32(chunk, crc)
                f.seek(len(_MAGIC))
                f.write(_PREFIX.pack(crc, len(header)))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> tuple[Columns, dict[str, int]]:
        """The columns saved at `path` and their stamp; `SnapshotError` for anything but a whole
        snapshot of this layout (a truncated or altered file fails the CRC check).

        The file is mapped, not read, and every column is used where it lies, in pages the kernel
        already holds: reading 80 MB into this process's memory, or widening the code columns, took
        longer than the rest of a search. So a loaded column is read-only and its code columns are
        of the narrowest integer type that holds their codes; the mapping stays valid when `save`
        renames a new file over this one."""
        try:
            with open(path, "rb") as f:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                info = os.fstat(f.fileno())
        except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
            raise SnapshotError(f"unreadable: {e}") from e
        start = len(_MAGIC) + _PREFIX.size
        if len(data) < start or data[:len(_MAGIC)] != _MAGIC:
            raise SnapshotError("not a column snapshot")
        view = memoryview(data)
        crc, size = _PREFIX.unpack_from(data, len(_MAGIC))
        # The file as this process last found it whole (`save` renames a new file into place, a new
        # inode): its checksum, a pass over every page of it, is not computed again.
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, crc)
        if identity not in _verified:
            if zlib.crc32(view[start:], zlib.crc32(size.to_bytes(8, "little"))) != crc:
                raise SnapshotError("damaged: the checksum does not match")
            _verified[identity] = None
            while len(_verified) > _VERIFIED_KEPT:
                del _verified[next(iter(_verified))]
        try:
            header = json.loads(bytes(view[start:start + size]))
            if header["format"] != SNAPSHOT_FORMAT:
                raise SnapshotError(f"layout {header['format']}, not {SNAPSHOT_FORMAT}")
            at = start + size

            def array(name: str) -> npt.NDArray[Any]:
                dtype, count, offset = header["arrays"][name]
                return np.frombuffer(data, np.dtype(dtype), count, at + offset)

            cols = cls()
            cols.seq = int(header["seq"])
            for name, codes in cols._codes().items():
                codes.names = _Packed(array(f"names_{name}").data, int(header["counts"][name]))
            rows = _Rows(**{name: array(name) for name in _NUMERIC})
            label_pos = array("label_pos")
            stamp = {str(k): int(v) for k, v in header["stamp"].items()}
        except SnapshotError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise SnapshotError(f"incomplete: {e!r}") from e
        _check(rows, label_pos, cols)
        cols._replace(rows, label_pos)
        return cols, stamp

    # -- keeping current ----------------------------------------------------------------------

    def refresh(self, db: sqlite3.Connection) -> bool:
        """Catch up with the log (call inside the read transaction the search then uses); whether
        that read the whole table."""
        newest, oldest = db.execute("SELECT max(seq), min(seq) FROM mention_changes").fetchone()
        newest = newest or 0
        if newest == self.seq:
            return False
        whole = self.seq < 0 or (oldest is not None and oldest > self.seq + 1)
        if not whole:
            changed = np.unique(np.fromiter(
                (r for r, in db.execute("SELECT mention_rowid FROM mention_changes WHERE seq > ?", (self.seq,))),
                np.int64))
            whole = len(changed) > RELOAD_SHARE * max(len(self), 1)
            if not whole:
                self._merge(changed, self._read(db, changed))
        if whole:
            self._replace(self._read(db, None))
        self.seq = newest
        return whole

    def _read(self, db: sqlite3.Connection, rowids: Ints | None) -> _Rows:
        """The rows (all, or those of `rowids` that exist) with their labels."""
        select = "SELECT rowid, published_ts, source, polarity, risk, group_id FROM mentions"
        labels = "SELECT mention_rowid, kind, value FROM mention_labels"
        if rowids is None:
            return self._read_all(db)
        else:
            rows, pairs = [], []
            for i in range(0, len(rowids), _IN_CHUNK):
                chunk = [int(r) for r in rowids[i:i + _IN_CHUNK]]
                marks = ", ".join("?" * len(chunk))
                rows += db.execute(f"{select} WHERE rowid IN ({marks})", chunk).fetchall()
                pairs += db.execute(f"{labels} WHERE mention_rowid IN ({marks})", chunk).fetchall()
            rows.sort()
        n = len(rows)
        rowid, ts, source, polarity, risk, group = zip(*rows, strict=True) if rows else ((),) * 6
        label_rowid, kinds, values = zip(*pairs, strict=True) if pairs else ((),) * 3
        kind = np.fromiter((LABEL_KINDS[k] for k in kinds), np.int8, len(kinds))
        codes = np.zeros(len(values), np.int64)
        for k, names in enumerate(self.labels):
            at = np.flatnonzero(kind == k)
            codes[at] = names.encode([values[i] for i in at.tolist()])
        rowids = np.fromiter(rowid, np.int64, n)
        bits = np.zeros(n, np.uint64)
        tokenize = _tokenizer(db) if self.terms.names and n else None
        if tokenize is not None:
            with _scratch(db, tokenize, rowids) as scratch:
                bits = _bits(db, scratch, rowids, self.terms.names)
        return _Rows(
            rowid=rowids, ts=np.round(np.fromiter(ts, np.float64, n) * 1e6) / 1e6,
            source=self.sources.encode(source),
            polarity=self.polarities.encode(polarity),
            risk=np.round(np.fromiter((np.nan if r is None else r for r in risk), np.float64, n) * RISK_SCALE)
            / RISK_SCALE,
            group=self.groups.encode(group), bits=bits,
            label_rowid=np.fromiter(label_rowid, np.int64, len(label_rowid)), label_kind=kind, label_code=codes)

    def _read_all(self, db: sqlite3.Connection) -> _Rows:
        """Every row, each column as one string SQLite joins in a single scan: a million Python
        row tuples would take seconds, and a store opened by one `yuqing search` loads them all."""
        sep = _SEP
        # Integers, not reals: SQLite prints a real several times slower than an integer.
        row = db.execute("SELECT group_concat(rowid, ' '), "
                         "group_concat(CAST(round(published_ts * 1e6) AS INTEGER), ' '), "
                         f"group_concat(ifnull(CAST(round(risk * {RISK_SCALE}) AS INTEGER), -1), ' '), "
                         f"group_concat(source, '{sep}'), group_concat(polarity, '{sep}'), "
                         f"group_concat(group_id, '{sep}') FROM mentions").fetchone()
        n = row[0].count(" ") + 1 if row[0] else 0

        risk = integers(row[2]) / RISK_SCALE
        risk[risk < 0] = np.nan

        def strings(text: str | None, codes: Codes) -> Ints:
            values = text.split(sep) if n and text is not None else []
            if len(values) != n:
                raise ValueError(f"a stored value holds the separator {sep!r}")
            return codes.encode(values)

        label_rowids, label_kinds, label_codes = [], [], []
        for kind, value, members in db.execute(
                "SELECT kind, value, group_concat(mention_rowid, ' ') FROM mention_labels GROUP BY kind, value"):
            at = integers(members)
            k = LABEL_KINDS[kind]
            label_rowids.append(at)
            label_kinds.append(np.full(len(at), k, np.int8))
            label_codes.append(np.full(len(at), self.labels[k].encode([value])[0], np.int64))
        rowid = integers(row[0])
        self.terms = Codes(self._frequent(db, rowid))
        return _Rows(
            rowid=rowid, ts=integers(row[1]) / 1e6, risk=risk, source=strings(row[3], self.sources),
            polarity=strings(row[4], self.polarities), group=strings(row[5], self.groups),
            bits=_bits(db, "main.mention_index", rowid, self.terms.names),
            label_rowid=np.concatenate([np.zeros(0, np.int64), *label_rowids]),
            label_kind=np.concatenate([np.zeros(0, np.int8), *label_kinds]),
            label_code=np.concatenate([np.zeros(0, np.int64), *label_codes]))

    @staticmethod
    def _frequent(db: sqlite3.Connection, rowid: Ints) -> list[str]:
        """The FTS5 expressions of the words in at least `FREQUENT_SHARE` (and `FREQUENT_MIN_ROWS`)
        of a sample of the rows `rowid`, most frequent first, at most `FREQUENT_TERMS`."""
        tokenize = _tokenizer(db)
        if tokenize is None or len(rowid) < FREQUENT_MIN_ROWS:
            return []
        sample = np.unique(rowid[np.linspace(0, len(rowid) - 1, min(len(rowid), FREQUENT_SAMPLE)).astype(np.int64)])
        need = len(sample) * max(FREQUENT_SHARE, FREQUENT_MIN_ROWS / len(rowid))
        with _scratch(db, tokenize, sample) as scratch:
            db.execute(f"CREATE VIRTUAL TABLE {scratch}_vocab USING fts5vocab(temp, {scratch.split('.')[1]}, 'row')")
            try:
                words = [w for w, in db.execute(f"SELECT term FROM {scratch}_vocab WHERE doc >= ? "
                                                 "ORDER BY doc DESC, term LIMIT ?", (need, FREQUENT_TERMS))]
            finally:
                db.execute(f"DROP TABLE {scratch}_vocab")
        return [text_match(w) for w in words]

    def _replace(self, rows: _Rows, label_pos: Ints | None = None) -> None:
        """Hold `rows`; `label_pos` when known (a snapshot's), else found by searching `rowid`."""
        self.rowid, self.ts, self.source, self.polarity = rows.rowid, rows.ts, rows.source, rows.polarity
        self.risk, self.group, self.bits = rows.risk, rows.group, rows.bits
        self._term_counts = {}
        self.label_rowid, self.label_kind, self.label_code = rows.label_rowid, rows.label_kind, rows.label_code
        self.label_pos = np.searchsorted(self.rowid, self.label_rowid) if label_pos is None else label_pos

    def _merge(self, changed: Ints, fresh: _Rows) -> None:
        """Drop the rows of `changed` and add `fresh` (what exists of them now)."""
        keep = ~_member(self.rowid, changed)
        keep_labels = ~np.isin(self.label_rowid, changed)
        rowid = np.concatenate([self.rowid[keep], fresh.rowid])
        order = np.argsort(rowid, kind="stable")

        def merged(old: npt.NDArray[Any], new: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.concatenate([old[keep], new])[order]

        self._replace(_Rows(
            rowid=rowid[order], ts=merged(self.ts, fresh.ts), source=merged(self.source, fresh.source),
            polarity=merged(self.polarity, fresh.polarity), risk=merged(self.risk, fresh.risk),
            group=merged(self.group, fresh.group), bits=merged(self.bits, fresh.bits),
            label_rowid=np.concatenate([self.label_rowid[keep_labels], fresh.label_rowid]),
            label_kind=np.concatenate([self.label_kind[keep_labels], fresh.label_kind]),
            label_code=np.concatenate([self.label_code[keep_labels], fresh.label_code])))

    # -- masks ----------------------------------------------------------------------------------

    def none(self) -> Mask:
        return np.zeros(len(self), np.bool_)

    def of_rowids(self, rowids: Ints) -> Mask:
        """The positions of `rowids` (those the columns hold: a row another process wrote after this
        snapshot is not in the FTS answer either, as both are read in one transaction)."""
        mask = self.none()
        mask[_positions(self.rowid, rowids)] = True
        return mask

    def term(self, match: str) -> Mask | None:
        """The rows FTS5 expression `match` matches, when it is a frequent word's (None otherwise)."""
        k = self.terms.code.get(match)
        return None if k is None else np.asarray((self.bits & np.uint64(1 << k)) != 0)

    def term_count(self, match: str) -> int | None:
        """How many rows FTS5 expression `match` matches, when it is a frequent word's (None otherwise)."""
        if match not in self._term_counts:
            bits = self.term(match)
            self._term_counts[match] = None if bits is None else int(np.count_nonzero(bits))
        return self._term_counts[match]

    def equal(self, column: str, value: str) -> Mask:
        codes: Codes = {"source": self.sources, "polarity": self.polarities, "group": self.groups}[column]
        code = codes.code.get(value)
        return self.none() if code is None else np.asarray(getattr(self, column) == code)

    def label(self, kind: str, values: Iterable[str]) -> Mask:
        """Rows with any of `values` among their institutions (`kind` "i") or categories ("c")."""
        k = LABEL_KINDS[kind]
        codes = [c for c in (self.labels[k].code.get(v) for v in values) if c is not None]
        mask = self.none()
        if codes:
            # one value (the usual filter): a comparison, several times faster than `isin`
            wanted = self.label_code == codes[0] if len(codes) == 1 else np.isin(self.label_code, codes)
            hit = (self.label_kind == k) & wanted
            mask[self.label_pos[hit]] = True
        return mask

    def between(self, low: int, high: int) -> slice:
        """The positions of rowids `low`..`high` (inclusive)."""
        return slice(int(np.searchsorted(self.rowid, low)), int(np.searchsorted(self.rowid, high, side="right")))

    # -- facets ---------------------------------------------------------------------------------

    def label_counts(self, mask: Mask, kind: str) -> list[tuple[str, int]]:
        k = LABEL_KINDS[kind]
        hit = (self.label_kind == k) & mask[self.label_pos]
        counts = np.bincount(self.label_code[hit], minlength=len(self.labels[k].names))
        return [(self.labels[k].names[c], int(counts[c])) for c in np.flatnonzero(counts)]

    def counts(self, mask: Mask, column: str) -> list[tuple[str, int]]:
        codes: Codes = {"source": self.sources, "polarity": self.polarities}[column]
        counts = np.bincount(getattr(self, column)[mask], minlength=len(codes.names))
        return [(codes.names[c], int(counts[c])) for c in np.flatnonzero(counts)]

    def top_groups(self, mask: Mask, size: int) -> list[tuple[str, int]]:
        """The `size` largest groups, ties by group id, without sorting every group: only those at
        least as large as the `size`-th largest count are compared."""
        counts = np.bincount(self.group[mask], minlength=len(self.groups.names))
        present = np.flatnonzero(counts)
        if size <= 0 or not len(present):
            return []
        sizes = counts[present]
        if len(present) > size:
            threshold = np.partition(sizes, len(sizes) - size)[len(sizes) - size]
            present, sizes = present[sizes >= threshold], sizes[sizes >= threshold]
        names = self.groups.names
        return sorted(((names[c], int(n)) for c, n in zip(present.tolist(), sizes.tolist(), strict=True)),
                      key=lambda gn: (-gn[1], gn[0]))[:size]


def _check(rows: _Rows, label_pos: Ints, cols: Columns) -> None:
    """Raise `SnapshotError` unless `rows` are columns of one length, rowids ascending, codes in
    range, and each label of a known kind at a row. What `save` wrote passes by construction (the
    CRC has shown it is that): these say what is wrong with a snapshot a bug wrote, with no
    temporary copy of a whole column (allocating one costs a new process more than comparing)."""
    n, labels = len(rows.rowid), len(rows.label_rowid)
    lengths = {len(rows.ts), len(rows.source), len(rows.polarity), len(rows.risk), len(rows.group), len(rows.bits)}
    if lengths - {n} or {len(rows.label_kind), len(rows.label_code), len(label_pos)} - {labels}:
        raise SnapshotError("columns of different lengths")
    if n and not np.all(rows.rowid[1:] > rows.rowid[:-1]):
        raise SnapshotError("rowids out of order")
    for column, codes in ((rows.source, cols.sources), (rows.polarity, cols.polarities), (rows.group, cols.groups)):
        if len(column) and (column.min() < 0 or column.max() >= len(codes.names)):
            raise SnapshotError("a code without a name")
    if len(cols.terms.names) > 64 or (n and len(cols.terms.names) < 64
                                       and rows.bits.max() >> np.uint64(len(cols.terms.names))):
        raise SnapshotError("a bit of no word")
    for k, codes in enumerate(cols.labels):
        of_kind = rows.label_code[rows.label_kind == k]
        if len(of_kind) and (of_kind.min() < 0 or of_kind.max() >= len(codes.names)):
            raise SnapshotError("a label code without a name")
    if labels and not (0 <= rows.label_kind.min() and rows.label_kind.max() <= 1
                       and 0 <= label_pos.min() and label_pos.max() < n):
        raise SnapshotError("a label of no row")
    for start in range(0, labels, _CHECK_BLOCK):  # in blocks: no temporary the size of the labels
        block = slice(start, start + _CHECK_BLOCK)
        if not np.array_equal(rows.rowid[label_pos[block]], rows.label_rowid[block]):
            raise SnapshotError("a label at another row than its own")


def _narrowest(limit: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer type holding 0 to `limit`."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if limit <= np.iinfo(t).max)


def _padded(array: npt.NDArray[Any]) -> bytes:
    """The array's bytes, zeros after them up to a multiple of `_ALIGN`."""
    return array.tobytes() + bytes(-array.nbytes % _ALIGN)


def _member(sorted_values: Ints, wanted: Ints) -> Mask:
    """Which of `sorted_values` are in `wanted` (sorted, unique)."""
    if not len(wanted) or not len(sorted_values):
        return np.zeros(len(sorted_values), np.bool_)
    pos = np.searchsorted(wanted, sorted_values).clip(0, len(wanted) - 1)
    return np.asarray(wanted[pos] == sorted_values)


__all__ = ["CHANGES_KEPT", "Columns", "SnapshotError", "text_match"]
