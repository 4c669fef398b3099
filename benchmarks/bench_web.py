"""Search page latency on the embedded store at a million mentions, with the store's own time for
the same requests measured in the same run.

The store is the Search benchmark's (`bench_search.py`: its corpus of the financial texts in
../shared/data, cached at /tmp/yuqing-bench-search-N.db and reused while recipe and schema stay the
same; built once when missing). The web app runs on 127.0.0.1 with one user, logged in over HTTP,
and each query of bench_search's set (terms, phrases, OR/NOT, field filters, filter arguments, date
ranges, the empty query) is timed `--rounds` times:

    store         store.search on the page's request (limit 20, exact total, no facets): the floor
    store+facets  the same with the page's facets (timeline by polarity, sources, institutions,
                  categories, repost groups): the floor of the facet panel
    api           GET /api/search over HTTP (no facets: the API's default)
    page          GET /search over HTTP: session check, the hits, the Jinja2 page (what the user
                  waits for; the facet panel follows)
    facets cold   GET /search/facets, the facet cache emptied first: the panel app.js loads
    facets warm   GET /search/facets again: from the cache (paging, sorting, coming back)
    page 2        GET the page's next link (the store's cursor)
    mention       GET the page's first hit: its page, with its repost group (looked for among the
                  mentions of its institutions within the grouping window either side)
    page inline   GET /search?facets=1, the facet cache emptied first: the page with its facets
                  computed in the same request, as the page was before they were loaded apart
                  (and as it is without script): the baseline

and prints p50 / p95 / max milliseconds for each, the page's p95 against the 200 ms target, and
the time until the panel is in (page + facets cold) for each query.

    .venv/bin/python benchmarks/bench_web.py [--mentions 1000000] [--rounds 2]
"""
from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import INSTITUTIONS, QUERIES, ROOT, TZ, cached_store, texts  # noqa: E402

from app.services import Services  # noqa: E402
from app.web import WebServer, WebState, state_path  # noqa: E402
from app.web.app import PAGE_SIZE, facet_input  # noqa: E402
from yuqing.config import from_mapping  # noqa: E402
from yuqing.search import SearchInput, build_request  # noqa: E402

TARGET_MS = 200


def summary(name: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[18]
    return f"{name:12} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {max(ms):7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("YUQING_TRAIN_DATA", ROOT.parent / "shared/data")))
    ap.add_argument("--cache", type=Path, help="the store to build or reuse (default: bench_search's)")
    args = ap.parse_args()
    cache = args.cache or Path(tempfile.gettempdir()) / f"yuqing-bench-search-{args.mentions}.db"
    store = cached_store(texts(args.data), args.mentions, cache)
    with tempfile.TemporaryDirectory() as tmp:
        config = from_mapping({"institutions": [{"name": n} for n in INSTITUTIONS]}, "<bench>", Path(tmp), env={})
        services = Services(config, store=store)
        state = WebState(state_path(services))
        state.add_user("bench", "bench", "viewer", "bench-password")
        server = WebServer(services, state, host="127.0.0.1", port=0)
        url = server.start()
        web = server.server.config.app.state.web
        names = ("store", "store+facets", "api", "page cold", "page", "facets cold", "facets warm", "page 2",
                 "page+panel", "mention", "page inline")
        times: dict[str, list[float]] = {name: [] for name in names}

        def timed(name: str, fn: Callable[..., Any], *args: Any) -> Any:
            t = time.perf_counter()
            out = fn(*args)
            times[name].append((time.perf_counter() - t) * 1000)
            return out

        try:
            with httpx.Client(base_url=url, timeout=300) as client:
                def get(path: str, params: dict[str, str] | None = None) -> httpx.Response:
                    return client.get(path, params=params).raise_for_status()

                assert client.post("/api/login", json={"username": "bench", "password": "bench-password"}).is_success
                store.search(build_request(SearchInput("银行"), TZ, "bench"))  # warm the page cache once
                for _ in range(args.rounds):
                    for _, q, f in QUERIES:
                        params = {"q": q, **{k: v for k, v in f.items() if k not in ("since", "until")}}
                        if "since" in f:
                            params.update({"from": f["since"], "to": f["until"]})
                        given = SearchInput(q, f.get("since"), f.get("until"), f.get("polarity"), f.get("source"),
                                            f.get("institution"), PAGE_SIZE)
                        timed("store", store.search, build_request(given, config.tz, "bench"))
                        timed("store+facets", store.search, build_request(facet_input(web, given), config.tz, "bench"))
                        timed("api", get, "/api/search", params)
                        # a user's first search of these words: the store's cached FTS5 answers (which
                        # the calls above filled) dropped, so the page pays for the text lookup itself
                        store.forget_cached_answers()
                        timed("page cold", get, "/search", params)
                        page = timed("page", get, "/search", params)
                        web.forget_facets()
                        timed("facets cold", get, "/search/facets", params)
                        timed("facets warm", get, "/search/facets", params)
                        times["page+panel"].append(times["page"][-1] + times["facets cold"][-1])
                        following = re.search(r'id="next-page" href="([^"]+)"', page.text)
                        if following:
                            timed("page 2", get, html.unescape(following.group(1)))
                        first = re.search(r'class="mention-link" href="([^"]+)"', page.text)
                        if first:
                            timed("mention", get, first.group(1))
                        web.forget_facets()
                        timed("page inline", get, "/search", {**params, "facets": "1"})
        finally:
            server.stop()
            state.close()
            store.close()
    print(f"{args.mentions:,} mentions, {len(QUERIES)} queries × {args.rounds} rounds")
    for name, ms in times.items():
        if len(ms) >= 2:
            print(summary(name, ms))
    page_p95 = statistics.quantiles(times["page cold"], n=20)[18]
    print(f"search page (first run of each query) p95 {page_p95:.1f} ms:"
          f" target ≤ {TARGET_MS} ms {'met' if page_p95 <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
