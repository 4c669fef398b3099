"""Export and migrate speed at 100,000 mentions, against a plain baseline in the same run.

Builds the corpus from the financial texts in ../shared/data (FinFE + FinNSP, cycled, a serial
number added so every mention differs), spread over a year, five sources, seven institutions,
written to a fresh SQLite store; then measures:

    export sqlite csv     `yuqing.export` over `SqliteStore.scan` (what `yuqing export` runs), rows/s
    export sqlite jsonl   the same, JSON Lines
    baseline sqlite3 -csv the sqlite3 shell dumping the same rows and columns out of the same file
                          (json_extract of each field: no BOM, no formula guard, no Mention objects)
    migrate               `yuqing migrate --to elasticsearch` (app.dataops), mentions/s, with NLP
                          excluded as everywhere in the store benchmarks; ES refresh off
    export es csv         `yuqing.export` over `ElasticsearchStore.scan` (point in time +
                          search_after: 10x past the 10,000-hit window), rows/s

    tests/elasticsearch/node start
    YUQING_TEST_ES_URL=$(tests/elasticsearch/node url) .venv/bin/python benchmarks/bench_dataops.py [--n 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yuqing.export import COLUMNS, export_file
from yuqing.model import Mention
from yuqing.storage.base import Store
from yuqing.storage.sqlite import SqliteStore

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 12, 1, tzinfo=TZ)
SOURCES = ("weibo", "tieba", "guba", "heimao", "news")
INSTITUTIONS = ("招商银行", "平安银行", "工商银行", "建设银行", "中国平安", "中国人寿", "招银理财")
POLARITY = {"negative": "negative", "neutral": "neutral", "positive": "positive"}


def texts(data: Path) -> list[tuple[str, str]]:
    out = []
    for name in ("finfe_train.jsonl", "finnsp_train.jsonl"):
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = row.get("text") or row.get("content") or ""
            if text:
                out.append((text, str(row.get("label", "neutral"))))
    if not out:
        raise SystemExit(f"no texts in {data}")
    return out


def corpus(source: list[tuple[str, str]], n: int, start: int) -> list[Mention]:
    out = []
    for i in range(start, start + n):
        text, label = source[i % len(source)]
        out.append(Mention(url=f"https://bench.example/dataops/{i}", source=SOURCES[i % 5], title=text[:20],
                           content=f"{text}（{i}）", published_at=T0 + timedelta(seconds=(i * 7919) % (365 * 86400)),
                           polarity=POLARITY.get(label, "neutral"), sentiment=0.5, risk=0.3,
                           institutions=[INSTITUTIONS[i % 7]], categories=["service"]))
    return out


def measure(what: str, fn: Callable[[], int]) -> tuple[str, int, float]:
    """(what, rows `fn` says it handled, seconds it took)."""
    start = time.perf_counter()
    rows = fn()
    return what, rows, time.perf_counter() - start


def export_rows(store: Store, fmt: str, out: Path) -> int:
    rows = 0

    def batches():  # counts what was exported, so the rate is of rows really written
        nonlocal rows
        for batch in store.scan(batch_size=1000):
            rows += len(batch)
            yield batch

    export_file(fmt, batches(), out)
    return rows


def sqlite3_baseline(db: Path, out: Path) -> int:
    columns = ", ".join("id" if c == "id" else f"json_extract(doc, '$.{c}')" for c in COLUMNS)
    with out.open("wb") as f:
        subprocess.run(["sqlite3", "-csv", "-header", str(db), f"SELECT {columns} FROM mentions ORDER BY rowid"],
                       stdout=f, check=True)
    with out.open(encoding="utf-8") as f:  # counting the dump's lines is cheap beside writing them
        return sum(1 for _ in f) - 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = p.parse_args()
    source = texts(args.data)
    work = Path(tempfile.mkdtemp(prefix="bench-dataops-"))
    db = work / "yuqing.db"
    store = SqliteStore(db, tz=TZ)
    start = time.perf_counter()
    for first in range(0, args.n, 5000):
        store.index_many(corpus(source, min(5000, args.n - first), first))
    built = time.perf_counter() - start
    size = sum(p.stat().st_size for p in work.glob("yuqing.db*")) / 1e6
    print(f"{time.strftime('%Y-%m-%d')}: {args.n} mentions from {args.data} into SQLite in {built:.0f} s "
          f"({size:.0f} MB with its WAL); {os.cpu_count()} cores")
    results = [measure(f"export sqlite {fmt}", lambda fmt=fmt: export_rows(store, fmt, work / f"sqlite.{fmt}"))
               for fmt in ("csv", "jsonl")]
    results.append(measure("baseline sqlite3 -csv", lambda: sqlite3_baseline(db, work / "baseline.csv")))
    store.close()

    url = os.environ.get("YUQING_TEST_ES_URL")
    if url:
        from app.dataops import migrate_to_elasticsearch
        from app.services import Services
        from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
        from yuqing.config import from_mapping
        from yuqing.storage.elasticsearch import ElasticsearchStore

        prefix = f"bench-dataops-{uuid.uuid4().hex[:8]}"
        config = from_mapping({"store": {"elasticsearch": {"url": url, "index_prefix": prefix}}}, "<bench>", work,
                              env={})

        def migrate() -> int:
            with Services(config) as services:
                report = migrate_to_elasticsearch(services, 1000)
            if not report.ok:
                raise SystemExit(f"migration incomplete: {report.summary()} {report.differences()}")
            return report.copied

        results.append(measure("migrate sqlite -> es", migrate))
        es = ElasticsearchStore(config.store.elasticsearch, tz=TZ)
        alerts = ElasticsearchAlertStore(config.store.elasticsearch)
        try:
            results.append(measure("export es csv", lambda: export_rows(es, "csv", work / "es.csv")))
        finally:
            es.drop()
            alerts.drop()
            es.close()
            alerts.close()
    else:
        print("YUQING_TEST_ES_URL not set: migrate and the Elasticsearch export skipped")
    print(f"{'what':24} {'rows':>8} {'seconds':>8} {'rows/s':>9}")
    for what, rows, seconds in results:
        print(f"{what:24} {rows:>8} {seconds:>8.1f} {rows / seconds:>9.0f}")
    for path in work.iterdir():
        path.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
