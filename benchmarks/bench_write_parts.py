"""Where the writing process's CPU goes, per mention: building the rows, each statement of a write,
the commit (FTS5 writes its pending terms out and merges segments there), on the Search benchmark's
corpus (`bench_search.py`, the texts of ../shared/data). The words are cut first, outside the
timing: in `index_many` the workers do that on the other core, and the writer is the limit.

    .venv/bin/python benchmarks/bench_write_parts.py [--n 100000] [--rounds 3] [--order random|time]

Each round writes a new store `WRITE_ROWS` rows a transaction (`_write`), as `index_many` does;
CPU time (user + system) of this process, so other work on the machine moves the figures less
than it moves the wall clock. Rounds are printed side by side to show the spread.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import ROOT, arrival, corpus, texts  # noqa: E402

from yuqing.storage import sqlite as store_sqlite  # noqa: E402
from yuqing.storage.base import IndexReport  # noqa: E402


class Fetched(list[Any]):
    """A SELECT's rows, fetched inside the timing, read as from a cursor."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class Timed:
    """The connection with each statement's CPU added up under its first words."""

    def __init__(self, db: sqlite3.Connection, spent: Counter[str]) -> None:
        self.db, self.spent = db, spent

    def _timed(self, call: Any, sql: str, *args: Any) -> Any:
        started = time.process_time()
        out = call(sql, *args)
        if isinstance(out, sqlite3.Cursor) and sql.lstrip().startswith("SELECT"):
            out = Fetched(out.fetchall())
        self.spent[" ".join(sql.split()[:3])] += time.process_time() - started
        return out

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed(self.db.execute, sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed(self.db.executemany, sql, *args)


def one_round(rows: list[Any], n: int) -> Counter[str]:
    spent: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = store_sqlite.SqliteStore(Path(tmp) / "w.db")
        db = Timed(store._db, spent)
        for start in range(0, n, store_sqlite.WRITE_ROWS):
            store_sqlite._write(db, rows[start:start + store_sqlite.WRITE_ROWS], IndexReport())  # type: ignore[arg-type]
        store.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--order", choices=["random", "time"], default="random",
                        help="the mentions' arrival, as bench_search.py's --write-order")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("YUQING_TRAIN_DATA", ROOT.parent / "shared/data")))
    args = parser.parse_args()
    mentions = arrival(list(corpus(texts(args.data), args.n, seed=77)), args.order)
    segmented = store_sqlite._segment([(m.title, m.content) for m in mentions])
    prepare: list[float] = []
    rounds: list[Counter[str]] = []
    for _ in range(args.rounds):
        started = time.process_time()
        rows = [store_sqlite._prepare(m, s) for m, s in zip(mentions, segmented, strict=True)]
        prepare.append(time.process_time() - started)
        rounds.append(one_round(rows, args.n))
    per = 1e6 / args.n
    print(f"writer CPU per mention over {args.n:,} mentions ({args.order} order), us, {args.rounds} rounds")
    totals = [p + sum(r.values()) for p, r in zip(prepare, rounds, strict=True)]
    print(f"  {'total':40s}", " ".join(f"{t * per:6.1f}" for t in totals))
    print(f"  {'building the rows (_prepare)':40s}", " ".join(f"{p * per:6.1f}" for p in prepare))
    for what, _ in rounds[0].most_common():
        print(f"  {what:40s}", " ".join(f"{r[what] * per:6.1f}" for r in rounds))


if __name__ == "__main__":
    main()
