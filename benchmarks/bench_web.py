"""Search page latency on the embedded store at scale, with the plain baseline in the same run.

Builds (or reuses, with --db) a SQLite store of N synthetic mentions (bench_store's seeded
finance-complaint corpus, spread over 30 days), starts the web app on 127.0.0.1 with one user,
logs in over HTTP, and times each query of a fixed set (bench_store's queries, alone and with a
polarity, an institution or a date filter) `--rounds` times three ways:

    store     store.search on the same request the page makes (limit 20, exact total): the floor
    api       GET /api/search over HTTP: session check, store, JSON
    page      GET /search over HTTP: session check, store, the Jinja2 page

and prints p50 / p95 / max milliseconds for each, and the page's p95 against the 200 ms target.

    .venv/bin/python benchmarks/bench_web.py --mentions 1000000 --db /tmp/bench-1m.db
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import QUERIES, T0, corpus  # noqa: E402

from app.services import Services  # noqa: E402
from app.web import WebServer, WebState, state_path  # noqa: E402
from yuqing.config import from_mapping  # noqa: E402
from yuqing.search import SearchInput, build_request  # noqa: E402
from yuqing.storage.sqlite import SqliteStore  # noqa: E402

CHUNK = 5000
TARGET_MS = 200
FILTERS: list[dict[str, str]] = [{}, {"polarity": "negative"}, {"institution": "招商银行"},
                                 {"from": (T0.date().replace(day=10)).isoformat(),
                                  "to": (T0.date().replace(day=12)).isoformat()}]


def build(store: SqliteStore, n: int) -> None:
    have = store.search(build_request(SearchInput(limit=0), store.tz, "bench")).total
    if have >= n:
        print(f"store: reusing {have} mentions in {store.path}")
        return
    started = time.perf_counter()
    for start in range(have - have % CHUNK, n, CHUNK):
        report = store.index_many(corpus(min(CHUNK, n - start), seed=start, start=start))
        if report.failed:
            raise SystemExit(f"indexing failed: {report.failed[:3]}")
        if start % (CHUNK * 20) == 0:
            print(f"  indexed {start + CHUNK} …", flush=True)
    print(f"store: indexed {n - have} mentions in {time.perf_counter() - started:.0f} s")


def summary(name: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[18]
    return f"{name:6} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {max(ms):7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--db", help="SQLite file to build or reuse (default: a temporary one)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = from_mapping({"institutions": [{"name": "招商银行"}, {"name": "平安银行"}]}, "<bench>", Path(tmp),
                              env={})
        store = SqliteStore(args.db or Path(tmp) / "bench.db", tz=config.tz)
        build(store, args.mentions)
        services = Services(config, store=store)
        state = WebState(state_path(services))
        state.add_user("bench", "bench", "viewer", "bench-password")
        server = WebServer(services, state, host="127.0.0.1", port=0)
        url = server.start()
        times: dict[str, list[float]] = {"store": [], "api": [], "page": []}
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                assert client.post("/api/login", json={"username": "bench", "password": "bench-password"}).is_success
                for _ in range(args.rounds):
                    for q in QUERIES:
                        for f in FILTERS:
                            given = SearchInput(q, f.get("from"), f.get("to"), f.get("polarity"), None,
                                                f.get("institution"), 20)
                            request = build_request(given, config.tz, "bench")
                            t = time.perf_counter()
                            store.search(request)
                            times["store"].append((time.perf_counter() - t) * 1000)
                            for name, path in (("api", "/api/search"), ("page", "/search")):
                                t = time.perf_counter()
                                r = client.get(path, params={"q": q, **f})
                                times[name].append((time.perf_counter() - t) * 1000)
                                r.raise_for_status()
        finally:
            server.stop()
            state.close()
            store.close()
    print(f"{args.mentions} mentions, {len(QUERIES)} queries × {len(FILTERS)} filter sets × {args.rounds} rounds")
    for name, ms in times.items():
        print(summary(name, ms))
    page_p95 = statistics.quantiles(times["page"], n=20)[18]
    print(f"search page p95 {page_p95:.1f} ms: target ≤ {TARGET_MS} ms {'met' if page_p95 <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
