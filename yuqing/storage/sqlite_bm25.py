"""FTS5's bm25 for a few rows of the SQLite store's index, without FTS5's walk of every doclist.

FTS5's `bm25()` starts each statement by counting the rows each phrase of the query matches in
the whole table (its IDF): for a common word that is a walk of a doclist as long as half the
store, tens of milliseconds, even when only the newest 500 matches are ranked. Here the same
score is computed from its parts, each read where it is cheap: the row and token totals from the
index's averages record, each row's size from its docsize record, each phrase's instances in a
row from `highlight()` (which reads only that row), and the phrase counts from the caller (the
column index holds them for the frequent words). The arithmetic is FTS5's own (`fts5Bm25Function`
in `fts5_aux.c`), in the same order, so the scores are the same doubles.

Where the parts cannot be read unambiguously (a phrase whose text two phrases share, a highlight
span that is no phrase's text, a rank function other than bm25, an index without docsize
records) `bm25` returns None and the caller asks FTS5's own `bm25()`.
"""
from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

K1, B = 1.2, 0.75  # FTS5's bm25 constants
_OPEN, _CLOSE = "\x02", "\x03"  # highlight marks: control characters, not in segmented text
_SPAN = re.compile(f"{_OPEN}([^{_CLOSE}]*){_CLOSE}")
_IN_CHUNK = 900  # host parameters per `IN (...)`, under SQLite's default limit


def varints(blob: bytes) -> list[int]:
    """The SQLite varints (big-endian, 7 bits a byte, the ninth byte whole) one after another in `blob`."""
    out, i = [], 0
    while i < len(blob):
        value = 0
        for j in range(9):
            byte = blob[i]
            i += 1
            if j == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        out.append(value)
    return out


def _weights(db: sqlite3.Connection) -> list[float] | None:
    """The column weights of the index's rank function when it is bm25 (None otherwise)."""
    row = db.execute("SELECT v FROM mention_index_config WHERE k = 'rank'").fetchone()
    found = re.fullmatch(r"\s*bm25\s*\(([^)]*)\)\s*", str(row[0])) if row else None
    if found is None:
        return None
    return [float(w) for w in found.group(1).split(",")] if found.group(1).strip() else []


def bm25(db: sqlite3.Connection, rowids: npt.NDArray[np.int64], phrases: Sequence[str], match: str,
         hits: Callable[[str], int]) -> dict[int, float] | None:
    """FTS5's rank (`bm25()`, negative, best lowest) of each of `rowids` (ascending) that FTS5
    expression `match` matches, whose phrases are `phrases` in order (each one word's text, as
    quoted in `match`); `hits(phrase)` is how many rows in the whole index that phrase matches in
    title or body. None when the parts cannot be read unambiguously."""
    if (not len(rowids) or len(set(phrases)) != len(phrases)
            or not all(any(c.isalnum() for c in p) for p in phrases)):  # FTS5 drops a phrase of no word
        return None
    try:
        weights = _weights(db)
        averages = db.execute("SELECT block FROM mention_index_data WHERE id = 1").fetchone()
        if weights is None or averages is None:
            return None
        totals = varints(averages[0])  # the row count, then each column's tokens
        # A column of weight 0 adds nothing to a phrase's frequency: its text is not highlighted.
        columns = [c for c in range(len(totals) - 1) if c >= len(weights) or weights[c] != 0.0]
        if not columns:
            return None
        marked: list[tuple[int, list[str]]] = []
        sizes: dict[int, int] = {}
        for i in range(0, len(rowids), _IN_CHUNK):
            chunk = [int(r) for r in rowids[i:i + _IN_CHUNK]]
            marks = ", ".join("?" * len(chunk))
            # `+rowid` keeps the list out of FTS5's plan: it walks the range once, not once per row.
            marked += [(r, list(texts)) for r, *texts in db.execute(
                "SELECT rowid, " + ", ".join(f"highlight(mention_index, {c}, '{_OPEN}', '{_CLOSE}')"
                                             for c in columns) +
                f" FROM mention_index WHERE mention_index MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN ({marks})",
                [match, chunk[0], chunk[-1], *chunk])]
            sizes.update((r, sum(varints(sz))) for r, sz in db.execute(
                f"SELECT id, sz FROM mention_index_docsize WHERE id IN ({marks})", chunk))
    except sqlite3.OperationalError:  # no docsize table (columnsize=0), or another layout
        return None
    rows, total = totals[0], sum(totals[1:])
    if rows <= 0:
        return None
    avgdl = float(total) / float(rows)
    idf = []
    for phrase in phrases:
        n = hits(phrase)
        value = math.log((rows - n + 0.5) / (n + 0.5))
        idf.append(value if value > 0.0 else 1e-6)
    which = {p: i for i, p in enumerate(phrases)}
    ranks: dict[int, float] = {}
    for rowid, texts in marked:
        freq = [0.0] * len(phrases)
        for column, text in zip(columns, texts, strict=True):
            if text is None:
                continue
            if text.count(_OPEN) != text.count(_CLOSE):
                return None
            for span in _SPAN.findall(text):
                if span not in which:
                    return None
                freq[which[span]] += weights[column] if column < len(weights) else 1.0
        d = float(sizes[rowid])
        score = 0.0
        for f, w in zip(freq, idf, strict=True):
            score += w * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + B * d / avgdl)))
        ranks[rowid] = -1.0 * score
    return ranks


__all__ = ["bm25", "varints"]
