"""Search speed at a million mentions on the embedded store, against the raw-FTS floor, and the
same query set on Elasticsearch; write speed against bare jieba on the same cores; file size.

The corpus is built from the financial texts in ../shared/data (`--data`): each mention is one of
those texts, some with an institution and a complaint phrase appended, spread over a year, five
sources, seven institutions, seeded. The built store is cached (`--cache`, default
/tmp/yuqing-bench-search-N.db) and reused while the corpus recipe and the schema stay the same.

    search    p50 / p95 / max ms of `SqliteStore.search` (limit 20, exact totals, highlights) for
              the query set, in the default order and newest first, and of the raw-FTS floor: the
              same FTS5 expression straight against the index (count + top 20 by bm25, no rows read)
    pages     ms of page 1 and page 500 of a broad search, through the cursor
    facets    ms of a search with facets (timeline x polarity, sources, institutions, categories,
              repost groups)
    write     mentions/s of `index_many` (batches of 5,000) against bare jieba (its own Python code)
              segmenting the same texts in one process per core; both use every core; and bare
              rjieba, which `index_many` segments with (the same words); the mentions arrive at
              random times over the year, or oldest first with `--write-order time`
    size      bytes of the SQLite file per million mentions
    start     `yuqing search QUERY --json` as a whole process against `python -c pass`
    es        the query set on Elasticsearch (`YUQING_TEST_ES_URL`; `--es-n` mentions, index dropped after)

    .venv/bin/python benchmarks/bench_search.py [--n 1000000] [--es-n 100000]
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yuqing.model import Mention  # noqa: E402
from yuqing.query import parse  # noqa: E402
from yuqing.search import SearchInput, build_request  # noqa: E402
from yuqing.segment import index_tokens  # noqa: E402
from yuqing.storage.base import FacetRequest, SearchRequest, Store  # noqa: E402
from yuqing.storage.sqlite import MIGRATIONS, SqliteStore, _insert, _match, _row  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 12, 1, tzinfo=TZ)
RECIPE = 1  # bump when the corpus changes: a cached store of another recipe is rebuilt
SOURCES = ["weibo", "tieba", "guba", "heimao", "news"]
INSTITUTIONS = ["招商银行", "平安银行", "工商银行", "建设银行", "中国平安", "兴业银行", "浦发银行"]
COMPLAINTS = [("暴力催收", "暴力催收"), ("信用卡年费乱收", "乱收费"), ("理财产品亏损", "误导销售"),
              ("客户信息泄露", "信息泄露"), ("贷款被拒还被收费", "乱收费"), ("客服态度差投诉无门", "服务态度"),
              ("电话骚扰不断", "骚扰"), ("涉嫌诈骗", "诈骗")]
POLARITY_WEIGHTS = (("negative", 3), ("neutral", 5), ("positive", 2))

# (label, query, filters): terms, phrases, AND/OR/NOT, each filter alone and combined, date
# ranges, the empty query with filters. Field filters in the query and the request's own filter
# arguments (--polarity ...) are the same path; both are here.
QUERIES: list[tuple[str, str, dict[str, str]]] = [
    ("term common", "银行", {}),
    ("term", "催收", {}),
    ("term rare", "经侦", {}),
    ("phrase", '"暴力 催收"', {}),
    ("and", "银行 投诉", {}),
    ("or", "催收 OR 骚扰", {}),
    ("not", "银行 -招商银行", {}),
    ("source", "source:weibo", {}),
    ("polarity", "", {"polarity": "negative"}),
    ("institution", "institution:招商银行", {}),
    ("category", "category:暴力催收", {}),
    ("author", "author:用户1234", {}),
    ("risk", "risk:>0.6", {}),
    ("term+source", "催收 source:weibo", {}),
    ("term+institution", "理财", {"institution": "平安银行"}),
    ("term+polarity+institution", "银行", {"polarity": "negative", "institution": "招商银行"}),
    ("filters combined", "source:tieba polarity:negative institution:工商银行 risk:>=0.5", {}),
    ("date term", "银行", {"since": "2026-03-01", "until": "2026-03-31"}),
    ("date filters", "", {"since": "2026-05-01", "until": "2026-05-07", "source": "guba"}),
    ("empty+polarity+institution", "", {"polarity": "negative", "institution": "招商银行"}),
    ("empty", "", {}),
    ("or+not+filter", "(催收 OR 诈骗) -平安 polarity:negative", {}),
]


def texts(data: Path) -> list[tuple[str, str]]:
    """(title, text) of every row of the shared data."""
    out = []
    for name in ("finnsp_train.jsonl", "finfe_train.jsonl"):
        for line in (data / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            title = row.get("title", "")
            out.append(("" if title == row["text"] else title, row["text"]))
    return out


def corpus(pool: list[tuple[str, str]], n: int, seed: int = 9, start: int = 0) -> Iterator[Mention]:
    rng = random.Random(seed + start)
    polarities, weights = zip(*POLARITY_WEIGHTS, strict=True)
    first_ids: list[str] = []
    for i in range(start, start + n):
        title, text = rng.choice(pool)
        institution = rng.choice(INSTITUTIONS)
        categories: list[str] = []
        if rng.random() < 0.5:
            phrase, category = rng.choice(COMPLAINTS)
            text = f"{text}，{institution}{phrase}"
            categories = [category]
        m = Mention(url=f"https://bench.example/{i}", source=rng.choice(SOURCES), title=title, content=text,
                    author=f"用户{rng.randrange(50_000)}",
                    published_at=T0 + timedelta(seconds=rng.randrange(365 * 86400)),
                    institutions=[institution], categories=categories,
                    polarity=rng.choices(polarities, weights)[0], sentiment=round(rng.random(), 3),
                    risk=round(rng.random(), 4))
        if first_ids and rng.random() < 0.1:  # a repost of an earlier mention: its group
            m.group_id = rng.choice(first_ids)
        else:
            m.group_id = m.id
            if len(first_ids) < 5000:
                first_ids.append(m.id)
        yield m


def build(path: Path, pool: list[tuple[str, str]], n: int) -> float:
    """The cached corpus: the store's own rows (`_row`, `_insert`), in transactions of 50,000, with
    each distinct text segmented once (a content is a pool text, then "，" and a complaint, and
    jieba never joins words across "，", so the tokens are those `index_many` would make; the first
    thousand are checked). The write speed itself is measured through `index_many`, in `bench_write`.
    Mentions per second."""
    path.unlink(missing_ok=True)
    store = SqliteStore(path, tz=TZ)
    tokens = functools.lru_cache(maxsize=None)(index_tokens)
    started = time.perf_counter()
    db = store._db
    db.execute("BEGIN")
    for i, m in enumerate(corpus(pool, n)):
        body = " ".join(filter(None, map(tokens, m.content.split("，", 1)))) if "，" in m.content else tokens(m.content)
        if i < 1000:
            assert body == index_tokens(m.content), m.content
        doc = json.dumps(m.to_dict(), ensure_ascii=False)
        _insert(db, _row(m, doc, tokens(m.title), body))
        if i % 50_000 == 49_999:
            db.execute("COMMIT")
            db.execute("BEGIN")
            print(f"  {i + 1:,} ({(i + 1) / (time.perf_counter() - started):,.0f}/s)", flush=True)
    db.execute("COMMIT")
    rate = n / (time.perf_counter() - started)
    store.close()
    return rate


def write(store: Store, mentions: Iterator[Mention], n: int) -> float:
    """`index_many` in batches of 5,000; mentions per second."""
    started = time.perf_counter()
    batch: list[Mention] = []
    for m in mentions:
        batch.append(m)
        if len(batch) == 5000:
            store.index_many(batch)
            batch = []
    if batch:
        store.index_many(batch)
    return n / (time.perf_counter() - started)


def cached_store(pool: list[tuple[str, str]], n: int, cache: Path) -> SqliteStore:
    stamp = cache.with_suffix(".json")
    want = {"recipe": RECIPE, "schema": len(MIGRATIONS), "n": n}
    if cache.exists() and stamp.exists() and json.loads(stamp.read_text()) | {"schema": want["schema"]} == want:
        SqliteStore(cache, tz=TZ).close()  # an older schema is migrated as a user's file is, not rebuilt
        stamp.write_text(json.dumps(want))
    if not (cache.exists() and stamp.exists() and json.loads(stamp.read_text()) == want):
        print(f"building {n:,} mentions into {cache} ...", flush=True)
        rate = build(cache, pool, n)
        print(f"  built at {rate:,.0f} mentions/s", flush=True)
        stamp.write_text(json.dumps(want))
    return SqliteStore(cache, tz=TZ)


def requests(limit: int = 20, sort: str = "") -> list[tuple[str, SearchRequest]]:
    out = []
    for label, query, filters in QUERIES:
        given = SearchInput(query=query, since=filters.get("since"), until=filters.get("until"),
                            polarity=filters.get("polarity"), source=filters.get("source"),
                            institution=filters.get("institution"), limit=limit, sort=sort)
        out.append((label, build_request(given, TZ, "benchmark")))
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median ms of `repeat` runs (every run counts, none is dropped as warm-up), and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):6.1f}  p95 {p95:6.1f}  max {ms[-1]:6.1f} ms"


def floor(store: SqliteStore, request: SearchRequest) -> int:
    """The same FTS5 expression straight against the index: count + top 20 by bm25."""
    match = _match(request)
    db = store._db
    if match is None:
        return int(db.execute("SELECT count(*) FROM mentions").fetchone()[0])
    low, high = -(2 ** 63), 2 ** 63 - 1
    if request.since and request.until:
        from yuqing.storage.sqlite import _rowid_bounds
        low, high = _rowid_bounds(request)
    total = db.execute("SELECT count(*) FROM mention_index WHERE mention_index MATCH ? AND rowid BETWEEN ? AND ?",
                       (match, low, high)).fetchone()[0]
    db.execute("SELECT rowid FROM mention_index WHERE mention_index MATCH ? AND rowid BETWEEN ? AND ? "
               "ORDER BY rank LIMIT 20", (match, low, high)).fetchall()
    return int(total)


def bench_queries(store: Store, label: str, repeat: int, sqlite: SqliteStore | None = None) -> None:
    for sort in ("", "time"):
        times, floors, colds = [], [], []
        print(f"\n{label}, sort {sort or 'default (relevance with terms, else time)'}:")
        for name, request in requests(sort=sort):
            line = ""
            if isinstance(store, SqliteStore):  # first the search as new, its FTS5 answers not cached
                store.forget_cached_answers()
                cold, _ = timed(lambda r=request: store.search(r), 1)  # type: ignore[misc]
                colds.append(cold)
                line = f"   (uncached {cold:7.1f} ms)"
            ms, result = timed(lambda r=request: store.search(r), repeat)  # type: ignore[misc]
            times.append(ms)
            line = f"  {name:28} {ms:7.1f} ms  {result.total:>9,} hits" + line
            if sqlite is not None and not sort:
                floor_ms, floor_total = timed(lambda r=request: floor(sqlite, r), repeat)  # type: ignore[misc]
                floors.append(floor_ms)
                line += f"   floor {floor_ms:7.1f} ms" + ("" if floor_total == result.total else "  TOTAL DIFFERS")
            print(line)
        print(f"  search: {summary(times)}")
        if colds:
            print(f"  search uncached: {summary(colds)}")
        if floors:
            print(f"  floor:  {summary(floors)}")


def bench_pages(store: Store, repeat: int) -> None:
    request = build_request(SearchInput(query="银行", sort="time", limit=20), TZ, "benchmark")
    cursor, page = None, 0
    first_ms = 0.0
    for page in range(1, 501):
        request.cursor = cursor
        ms, result = timed(lambda: store.search(request), 1 if 1 < page < 500 else repeat)
        if page == 1:
            first_ms = ms
        cursor = result.next_cursor
    print(f"\npages of '银行' newest first: page 1 {first_ms:.1f} ms, page {page} {ms:.1f} ms")
    if isinstance(store, SqliteStore):  # Elasticsearch refuses offsets past its 10,000-hit window
        offset = build_request(SearchInput(query="银行", sort="time", limit=20, offset=499 * 20), TZ, "benchmark")
        offset_ms, _ = timed(lambda: store.search(offset), repeat)
        print(f"  (the same page 500 by offset: {offset_ms:.1f} ms)")


def bench_facets(store: Store, repeat: int) -> None:
    for query in ("", "催收", "银行"):
        request = build_request(SearchInput(query=query, limit=20), TZ, "benchmark")
        request.facets = FacetRequest(interval_seconds=86400, size=10)
        # Facets read every match: a couple of runs is enough to see their cost.
        ms, result = timed(lambda r=request: store.search(r), min(repeat, 2))  # type: ignore[misc]
        print(f"  facets of {query or '(everything)'!r:10}: {ms:7.1f} ms ({result.total:,} hits, "
              f"{len(result.facets.timeline)} days)")


_jieba: Any = None


def arrival(mentions: list[Mention], order: str) -> list[Mention]:
    """The mentions in the order of `--write-order`: as made (random times), or oldest first."""
    return sorted(mentions, key=lambda m: m.published_at or m.fetched_at) if order == "time" else mentions


def _bare(chunk: list[tuple[str, str]]) -> int:
    """jieba's own Python code, as `index_tokens` used it before rjieba: the issue's yardstick."""
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba.Tokenizer()
        _jieba.initialize()
    return sum(len(list(_jieba.cut_for_search(t.lower(), HMM=False))) + len(list(_jieba.cut_for_search(
        c.lower(), HMM=False))) for t, c in chunk)


def _bare_rust(chunk: list[tuple[str, str]]) -> int:
    """The same words cut by rjieba, as `index_tokens` now cuts them."""
    return sum(len(index_tokens(t)) + len(index_tokens(c)) for t, c in chunk)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _segment_alone(fn: Callable[[list[tuple[str, str]]], int], pairs: list[tuple[str, str]],
                   cores: int) -> tuple[float, float]:
    """Mentions per second and CPU seconds of `fn` over `pairs` in one process per core."""
    chunks = [pairs[i:i + 500] for i in range(0, len(pairs), 500)]
    with multiprocessing.get_context("spawn").Pool(cores) as workers:
        workers.map(fn, chunks[:cores])  # start and load the dictionary first: not timed
        pids = [p.pid for p in workers._pool]
        cpu, started = _cpu_seconds(pids), time.perf_counter()
        workers.map(fn, chunks)
        return len(pairs) / (time.perf_counter() - started), _cpu_seconds(pids) - cpu


def bench_write(pool: list[tuple[str, str]], n: int, order: str = "random", into: Path | None = None) -> None:
    """Both rates, and the CPU each side spent per mention (the writing process, the segmenting
    workers): on a machine busy with other work the rates swing, the CPU per mention much less.
    `order` is the mentions' arrival: "random" over the year (each batch lands all over the file),
    or "time", oldest first, as a crawl mostly delivers them (each batch lands near the last).
    `into`: write into a copy of that store (e.g. the million-mention one) instead of a new file."""
    # Into a store: ids past its own (the cached corpora number theirs from 0), so every write inserts.
    mentions = arrival(list(corpus(pool, n, seed=77, start=0 if into is None else 10 ** 8)), order)
    pairs = [(m.title, m.content) for m in mentions]
    cores = len(os.sched_getaffinity(0))
    bare, bare_cpu = _segment_alone(_bare, pairs, cores)
    rust, rust_cpu = _segment_alone(_bare_rust, pairs, cores)
    with tempfile.TemporaryDirectory() as tmp:
        if into is not None:
            shutil.copyfile(into, Path(tmp) / "w.db")
        store = SqliteStore(Path(tmp) / "w.db", tz=TZ)
        store.index_many(list(corpus(pool, 2000, seed=5, start=10 ** 9)))  # start the workers: not timed
        from yuqing import segment
        pids = list(segment._pool._processes) if segment._pool else []
        cpu, main_cpu, started = _cpu_seconds(pids), time.process_time(), time.perf_counter()
        for i in range(0, n, 5000):
            store.index_many(mentions[i:i + 5000])
        ours = n / (time.perf_counter() - started)
        worker_cpu, main_cpu = _cpu_seconds(pids) - cpu, time.process_time() - main_cpu
        store.close()
    print(f"\nwrite {n:,} mentions ({order} order) on {cores} cores: index_many {ours:,.0f}/s, "
          f"bare jieba {bare:,.0f}/s "
          f"-> {ours / bare:.2f}x (bare rjieba {rust:,.0f}/s)\n"
          f"  CPU per mention: index_many {(main_cpu + worker_cpu) / n * 1e6:.0f} us "
          f"(writer {main_cpu / n * 1e6:.0f}, workers {worker_cpu / n * 1e6:.0f}), "
          f"bare jieba {bare_cpu / n * 1e6:.0f} us -> {bare_cpu / (main_cpu + worker_cpu):.2f}x "
          f"(bare rjieba {rust_cpu / n * 1e6:.0f} us)")


def bench_start(cache: Path, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "yuqing.yaml"
        config.write_text(f"store:\n  sqlite:\n    path: {cache}\n", encoding="utf-8")
        yuqing = [sys.executable, "-m", "app.cli"] if not (ROOT / ".venv/bin/yuqing").exists() \
            else [str(ROOT / ".venv/bin/yuqing")]

        def run(argv: list[str]) -> float:
            ms, _ = timed(lambda: subprocess.run(argv, check=True, capture_output=True, cwd=ROOT), repeat)
            return ms

        bare = run([sys.executable, "-c", "pass"])
        for query in ("催收 source:weibo", ""):
            ms = run([*yuqing, "--config", str(config), "--data-dir", tmp, "search", *query.split(), "--json"])
            print(f"  yuqing search {query or '(empty)'!r:18} --json: {ms:6.0f} ms (python -c pass: {bare:.0f} ms)")


def bench_es(pool: list[tuple[str, str]], n: int, repeat: int) -> None:
    url = os.environ.get("YUQING_TEST_ES_URL")
    if not url:
        print("\nElasticsearch: skipped (set YUQING_TEST_ES_URL)")
        return
    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    store = ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}"), tz=TZ)
    try:
        store.setup()
        rate = write(store, corpus(pool, n), n)
        store._client.indices.refresh(index=store.names.read_alias)
        print(f"\nElasticsearch: {n:,} mentions written at {rate:,.0f}/s")
        bench_queries(store, f"Elasticsearch, {n:,} mentions", repeat)
        bench_pages(store, repeat)
        bench_facets(store, repeat)
    finally:
        store.drop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--es-n", type=int, default=100_000)
    parser.add_argument("--write-n", type=int, default=50_000)
    parser.add_argument("--write-order", choices=["random", "time"], default="random",
                        help="the written mentions' arrival: random times over the year, or oldest first")
    parser.add_argument("--write-into", type=Path,
                        help="write into a copy of this store (e.g. the --cache file of --n 1000000), not a new one")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("YUQING_TRAIN_DATA", ROOT.parent / "shared/data")))
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--skip", action="append", default=[], choices=["search", "write", "start", "es"],
                        help="leave a part out (search: the query set, pages and facets)")
    args = parser.parse_args()
    pool = texts(args.data)
    cache = args.cache or Path(tempfile.gettempdir()) / f"yuqing-bench-search-{args.n}.db"
    store = cached_store(pool, args.n, cache)
    chars = statistics.mean(len(m.text) for m in corpus(pool, 10_000))
    print(f"{store.count():,} mentions of {chars:.0f} characters on average (title and text); "
          f"{cache.stat().st_size / store.count() * 1e6 / 2**30:.2f} GiB per million "
          f"({cache.stat().st_size / 2**30:.2f} GiB)")
    # Warm the page cache once, and leave the column snapshot a new process (`start`) loads.
    store.search(SearchRequest(query=parse("银行")))
    if "search" not in args.skip:
        bench_queries(store, f"SQLite, {store.count():,} mentions", args.repeat, store)
        bench_pages(store, args.repeat)
        print("\nfacets:")
        bench_facets(store, args.repeat)
    store.close()
    if "start" not in args.skip:
        print("\nwarm start:")
        bench_start(cache, args.repeat)
    if "write" not in args.skip:
        bench_write(pool, args.write_n, args.write_order, args.write_into)
    if "es" not in args.skip:
        bench_es(pool, args.es_n, args.repeat)


if __name__ == "__main__":
    main()
