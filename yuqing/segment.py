"""Word segmentation for search, shared by every storage backend.

Both backends index `index_tokens(text)` (space-separated words) and look up `query_tokens(term)`,
so a query means the same on SQLite FTS5 and on Elasticsearch's whitespace analyser.

The words are jieba's, with only its stock dictionary and HMM off, on purpose: adding institution
names to the analysis dictionary (nlp/) must not change how already-indexed text was split, or old
documents would stop matching new queries. Search mode (`cut_for_search`) also emits the dictionary
words inside longer words, so `银行` finds `招商银行` and `信用` finds `信用卡`. They are cut by a
private instance of rjieba (jieba-rs, the Rust port, with the same dictionary), a tenth of the
CPU of jieba's own Python code for the same words: tests/test_segment.py holds the two to the same
output.

Loading a whole dictionary takes a fifth of a second (jieba's own, most of a second), which
`yuqing search` would pay on every run for a few query words. So a query is segmented by jieba's
own code over only the dictionary entries it can use: every substring of the query up to the
longest word, read from an SQLite copy of the dictionary that the first search builds (in the
temporary folder, like jieba's own cache). The full dictionary is used whenever it is loaded
anyway, and whenever the copy cannot be made.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, TypeVar

import jieba

if TYPE_CHECKING:
    import rjieba

T = TypeVar("T")
R = TypeVar("R")

_tokenizer = jieba.Tokenizer()  # never initialised: the dictionary file, and the cut of a query's entries
_words: rjieba.Jieba | None = None
_init_lock = threading.Lock()
_WORD = re.compile(r"\w", re.UNICODE)
# How far apart (in index tokens) the words of one multi-word term may stand: search mode inserts
# up to a few sub-words between two neighbouring words of the original text.
NEAR_DISTANCE_PER_WORD = 3


def _ready() -> rjieba.Jieba:
    """The whole stock dictionary (a private instance: nobody's `add_word` reaches it)."""
    global _words
    if _words is None:
        with _init_lock:
            if _words is None:
                import rjieba  # here: importing it loads a dictionary of its own, which a search may not need

                _words = rjieba.Jieba()
    return _words


def index_tokens(text: str) -> str:
    """The text as space-separated lower-case search tokens (punctuation and spaces dropped)."""
    if not text:
        return ""
    words = _ready().cut_for_search(text.lower(), hmm=False)
    return " ".join(w for w in words if _WORD.search(w))


def query_tokens(term: str) -> list[str]:
    """The words of one query term, in order; the term itself when it has no word characters."""
    term = term.lower()
    if _words is not None:
        words = _words.cut(term, hmm=False)
    else:
        tokenizer = _query_tokenizer(term)
        words = tokenizer.lcut(term, HMM=False) if tokenizer is not None else _ready().cut(term, hmm=False)
    words = [w for w in words if _WORD.search(w) and w.strip()]
    return words or [term]


_DICT_LOCK = threading.Lock()
_dict_db: sqlite3.Connection | None = None


def _dict_copy() -> sqlite3.Connection | None:
    """The SQLite copy of jieba's dictionary (word → frequency, 0 for a prefix of a word, as in
    jieba's own table), built once per dictionary file; None when it cannot be built."""
    global _dict_db
    if _dict_db is not None:
        return _dict_db
    source = _tokenizer.get_dict_file()
    source.close()
    stat = os.stat(source.name)
    path = os.path.join(tempfile.gettempdir(), f"yuqing-jieba-{jieba.__version__}-{stat.st_size}-{stat.st_mtime_ns}.db")
    try:
        if not os.path.exists(path):
            _build_dict_copy(path)
        _dict_db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        _log.warning("query words are segmented with the whole jieba dictionary: cannot use %s (%s)", path, e)
        return None
    return _dict_db


def _build_dict_copy(path: str) -> None:
    freq, total = jieba.Tokenizer.gen_pfdict(_tokenizer.get_dict_file())
    partial = f"{path}.{os.getpid()}.tmp"
    db = sqlite3.connect(partial)
    try:
        db.execute("CREATE TABLE freq (word TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("CREATE TABLE meta (total INTEGER NOT NULL, longest INTEGER NOT NULL)")
        db.executemany("INSERT INTO freq VALUES (?, ?)", freq.items())
        db.execute("INSERT INTO meta VALUES (?, ?)", (total, max(map(len, freq))))
        db.commit()
    finally:
        db.close()
    os.replace(partial, path)  # whole or not at all: another process may be building it too


def _query_tokenizer(term: str) -> jieba.Tokenizer | None:
    """A jieba tokenizer whose table holds only the entries a cut of `term` can look up: the same
    words as the full dictionary gives; None without the dictionary copy."""
    with _DICT_LOCK:
        db = _dict_copy()
        if db is None:
            return None
        total, longest = db.execute("SELECT total, longest FROM meta").fetchone()
        pieces = sorted({term[i:j] for i in range(len(term)) for j in range(i + 1, min(len(term), i + longest) + 1)})
        freq: dict[str, int] = {}
        for start in range(0, len(pieces), 900):
            chunk = pieces[start:start + 900]
            freq.update(db.execute(f"SELECT word, n FROM freq WHERE word IN ({', '.join('?' * len(chunk))})", chunk))
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
    return tokenizer


def near_distance(tokens: list[str]) -> int:
    """The largest gap allowed between the words of a multi-word term or phrase."""
    return NEAR_DISTANCE_PER_WORD * max(len(tokens) - 1, 1)


# Segmenting holds the GIL (threads would share one core): a write of many mentions
# segments them in worker processes, one per core, while the caller stores earlier chunks.
PARALLEL_MIN = 2000  # smaller writes (a crawl's batches) are segmented in-process: no pool to start
PARALLEL_CHUNK = 500
_pool: ProcessPoolExecutor | None = None
_pool_broken = False  # a worker could not start or died: this process segments by itself from then on
_pool_lock = threading.Lock()
_log = logging.getLogger(__name__)


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _shutdown() -> None:
    if _pool is not None:
        _pool.shutdown(cancel_futures=True)


def chunked_map(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> Iterator[list[R]]:
    """`fn` over chunks of `items`, in order: in worker processes for a large write on a machine
    with more than one core (started once per process, with `spawn`, so a threaded caller such
    as the scheduler is never forked), else right here. `fn` must be a module-level function."""
    chunks = [items[i:i + PARALLEL_CHUNK] for i in range(0, len(items), PARALLEL_CHUNK)]
    if len(items) < PARALLEL_MIN or _workers() < 2 or _pool_broken:
        return iter([fn(chunk) for chunk in chunks])
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(_workers(), mp_context=multiprocessing.get_context("spawn"))
            atexit.register(_shutdown)
        pool = _pool
    return _parallel(pool, fn, chunks)


def _parallel(pool: ProcessPoolExecutor, fn: Callable[[Sequence[T]], list[R]],
              chunks: list[Sequence[T]]) -> Iterator[list[R]]:
    global _pool, _pool_broken
    done = 0
    try:
        for result in pool.map(fn, chunks):
            yield result
            done += 1
    except BrokenProcessPool as e:  # e.g. the main module cannot be imported again (`python -`)
        _log.warning("segmenting in this process only: the worker processes failed (%s)", e)
        with _pool_lock:
            _pool_broken, _pool = True, None
        yield from (fn(chunk) for chunk in chunks[done:])
