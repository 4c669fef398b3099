"""What building the weekly digest costs, beside the store reads it needs, on the SQLite store.

    .venv/bin/python benchmarks/bench_digest.py [--scale 1 10 50] [--repeats 3]

For each scale, the test suite's generated month (`tests/digest_support.py`: two banks, five
weeks, every polarity, a burst, reposts, stories; `--scale` multiplies the everyday posts) is
indexed into a fresh SQLite store, then timed in the same run (fastest of `--repeats`):
    baseline  the store reads a digest makes and nothing else: per bank, three counting searches
              with facets (the week, its negatives, the week before's negatives), the history
              counts (`count_by_interval`) and the mentions of this week and the week before
              (`evidence.fetch`)
    collect   everything the digest says (`digest_content.collect`: the reads, categories,
              sources, reposts merged, rising keywords, MinHash stories, alerts, cases)
    email     collect, the charts (matplotlib, one per bank) and both templates into the email
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from digest_support import NOW, SHANGHAI, alerts, cases, month  # noqa: E402

from alerts import evidence  # noqa: E402
from alerts.digest import build_digest  # noqa: E402
from alerts.digest_content import collect  # noqa: E402
from alerts.period import parse_week  # noqa: E402
from yuqing.alertstore.sqlite import SqliteAlertStore  # noqa: E402
from yuqing.config import from_mapping  # noqa: E402
from yuqing.query import parse  # noqa: E402
from yuqing.storage.base import FacetRequest, SearchRequest  # noqa: E402
from yuqing.storage.sqlite import SqliteStore  # noqa: E402


def _fastest(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(scale: int, repeats: int) -> str:
    """One table row: the month at `scale` in a fresh store, the three timings."""
    with tempfile.TemporaryDirectory() as tmp:
        config = from_mapping({"institutions": [{"name": "招商银行", "aliases": ["招行"]}, {"name": "平安银行"}],
                               "digest": {"recipients": ["risk@example.com"]}}, "bench", Path(tmp), env={})
        db = Path(tmp) / "yuqing.db"
        store, alert_store = SqliteStore(db, tz=SHANGHAI), SqliteAlertStore(db)
        mentions = month(scale)
        store.index_many(mentions)
        for record in alerts():
            alert_store.put_alert(record)
        cases(alert_store, mentions)
        week = parse_week(None, config, NOW)
        in_week = sum(week.start <= m.published_at < week.end for m in mentions)

        def reads() -> None:
            for inst in config.institutions:
                for since, until, polarity in ((week.start, week.end, None), (week.start, week.end, "negative"),
                                               (week.previous().start, week.start, "negative")):
                    store.search(SearchRequest(query=parse(""), since=since, until=until, institution=inst.name,
                                               polarity=polarity, limit=0, facets=FacetRequest(86400, 20)))
                for polarity in (None, "negative"):
                    store.count_by_interval(week.history_start(), week.start, 7 * 86400, institution=inst.name,
                                            polarity=polarity)
                evidence.fetch(store, week.start, week.end, institution=inst.name)
                evidence.fetch(store, week.previous().start, week.start, institution=inst.name)

        try:
            base = _fastest(reads, repeats)
            content = _fastest(lambda: collect(config, store, alert_store, week, now=NOW), repeats)
            mail = _fastest(lambda: build_digest(config, store, alert_store, now=NOW), repeats)
        finally:
            store.close()
            alert_store.close()
    return f"| {len(mentions):,} | {in_week:,} | {base:.2f} s | {content:.2f} s | {mail:.2f} s | {mail / base:.1f} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| mentions | last week | baseline (reads) | collect | email | email / baseline |")
    print("| --- | --- | --- | --- | --- | --- |")
    for scale in args.scale:
        print(measure(scale, args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
