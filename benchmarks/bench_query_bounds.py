"""What the query bounds (`yuqing.query.MAX_TERMS`, `MAX_CHARS`) cost and save, on the SQLite store.

    .venv/bin/python benchmarks/bench_query_bounds.py [--n 20000]

Indexes `bench_store`'s synthetic corpus, then times, on the same store in the same run:
    baseline     one common word (`银行`)
    at the bound the worst queries the parser accepts: MAX_TERMS copies of that word, and
                 MAX_TERMS distinct words of the corpus OR-ed (every mention matches)
    refused      twice the bound, and the hostile-input issue's 800 characters of common words
                 (270 terms), built as trees directly (the parser refuses them), to show what the
                 bound saves: the cost grows faster than the number of terms
Each is the fastest of `--repeats` runs of `store.search` with limit 20 (the refused ones run once).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_store import FILLERS, SUBJECTS, TOPICS, TZ, corpus
from yuqing.query import MAX_CHARS, MAX_TERMS, And, Query, QuerySyntaxError, Term, parse
from yuqing.storage.base import SearchRequest
from yuqing.storage.sqlite import SqliteStore


def _fastest(store: SqliteStore, query: Query, repeats: int) -> tuple[float, int]:
    best, total = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        total = store.search(SearchRequest(query=query, limit=20)).total
        best = min(best, time.perf_counter() - start)
    return best, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="mentions in the store")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    refused_text = ("银行 " * 270)[:800]
    try:
        parse(refused_text)
        raise SystemExit("the 800-character query was accepted: the bounds are gone")
    except QuerySyntaxError as e:
        print(f"refused by the parser: {e}")
    vocabulary = (SUBJECTS + TOPICS + FILLERS)[:MAX_TERMS]
    cases = [("baseline: 银行", parse("银行")),
             (f"at the bound: {MAX_TERMS} × 银行", parse(" ".join(["银行"] * MAX_TERMS))),
             (f"at the bound: {MAX_TERMS} words OR-ed", parse(" OR ".join(vocabulary))),
             (f"refused: {2 * MAX_TERMS} × 银行", And(tuple(Term("银行") for _ in range(2 * MAX_TERMS)))),
             ("refused: 800 characters, 270 × 银行", And(tuple(Term(w) for w in refused_text.split())))]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", tz=TZ)
        store.index_many(corpus(args.n, seed=1))
        print(f"{args.n} mentions; MAX_CHARS {MAX_CHARS}, MAX_TERMS {MAX_TERMS}; fastest of {args.repeats}")
        for label, query in cases:
            seconds, total = _fastest(store, query, 1 if label.startswith("refused") else args.repeats)
            print(f"  {label:<42} {seconds * 1000:9.1f} ms  ({total} hits)")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
