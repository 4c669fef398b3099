"""Speed of the two stores and whether they agree.

Indexes the same synthetic corpus (Chinese complaint-like posts built from a finance vocabulary,
seeded) into the SQLite store and, when YUQING_TEST_ES_URL is set, into Elasticsearch; then runs a
query set over both and reports:

    index       mentions written per second (index_many in batches of 500; ES with refresh off)
    search      p50 / p95 milliseconds per query (limit 20, exact totals)
    histogram   milliseconds per count_by_interval (hourly buckets over the corpus' 30 days)
    agreement   queries that match exactly the same mentions (total and id set) on both backends,
                for the query set above and for 300 random 2-5 character substrings (and pairs of
                them) of the demo's 50 realistic posts, which cut across words, numbers and Latin
    ranking     how many of the top 10 are the same (the backends' relevance scores differ)

    tests/elasticsearch/node start
    YUQING_TEST_ES_URL=$(tests/elasticsearch/node url) .venv/bin/python benchmarks/bench_store.py [--n 5000]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yuqing.config import ElasticsearchConfig
from yuqing.model import Mention
from yuqing.query import parse
from yuqing.segment import index_tokens
from yuqing.storage.base import SearchRequest, Store
from yuqing.storage.sqlite import SqliteStore

T = TypeVar("T")
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 1, tzinfo=TZ)
SUBJECTS = ["招商银行", "平安银行", "工商银行", "招行", "中国平安", "某保险公司", "客服", "工作人员"]
TOPICS = ["信用卡", "暴力催收", "催收", "年费", "理财产品", "亏损", "贷款", "逾期", "利率", "手续费",
          "理赔", "拒赔", "转账", "APP", "闪退", "网点", "服务态度", "投诉", "骚扰电话", "退款"]
FILLERS = ["客户反映", "今天", "多次", "但是", "没有", "已经", "非常", "表示", "希望", "处理", "结果",
           "我们", "家人", "说", "被", "了", "还是", "一直"]
QUERIES = ["催收", "银行", "招商银行", "信用卡 年费", "催收 OR 骚扰电话", "催收 NOT 招商银行", "信用卡 -年费",
           '"暴力 催收"', "暴力催收", "(催收 OR 理财产品) 银行", "app 闪退", "理赔 拒赔", "服务态度",
           "手续费 OR 利率 OR 年费", "平安 理赔", "逾期 贷款 -催收", "工作人员 态度", "不存在的词"]


def corpus(n: int, seed: int, start: int = 0) -> list[Mention]:
    """`n` seeded synthetic posts; `start` numbers their URLs, so chunks of a large corpus differ."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        words = [rng.choice(SUBJECTS)] + rng.sample(TOPICS, 3) + rng.sample(FILLERS, 6)
        rng.shuffle(words)
        out.append(Mention(
            url=f"https://bench.example/{i}", source=rng.choice(["weibo", "tieba", "news", "guba"]),
            title=rng.choice(TOPICS) + rng.choice(["问题", "投诉", "求助"]), content="，".join(words) + "。",
            published_at=T0 + timedelta(seconds=rng.randrange(30 * 86400)),
            polarity=rng.choice(["negative", "neutral", "positive"]), institutions=[rng.choice(SUBJECTS[:5])]))
    return out


def demo_corpus() -> list[Mention]:
    posts = json.loads((Path(__file__).resolve().parents[1] / "app/demo/sample_posts.json").read_text("utf-8"))
    return [Mention(url=f"https://demo.example/{i}", source="demo", title=p["title"], content=p["content"],
                    author=p.get("author", ""), published_at=T0 + timedelta(hours=i))
            for i, p in enumerate(posts["posts"])]


def substring_queries(mentions: list[Mention], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)

    def piece() -> str:
        text = rng.choice(mentions).text.replace("\n", "")
        size = rng.randint(2, 5)
        start = rng.randrange(max(1, len(text) - size))
        return text[start:start + size].replace('"', "").strip() or "银行"

    return [piece() if i % 3 else f"{piece()} {piece()}" for i in range(n)]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def answers(store: Store, queries: list[str]) -> dict[str, tuple[int, set[str]]]:
    out = {}
    for text in queries:
        result = store.search(SearchRequest(query=parse(text), limit=10_000))
        out[text] = (result.total, {h.mention.id for h in result.hits})
    return out


def run(name: str, store: Store, mentions: list[Mention],
        after_write: Callable[[], object] = lambda: None) -> dict[str, tuple[int, list[str]]]:
    batches = [mentions[i:i + 500] for i in range(0, len(mentions), 500)]
    seconds = 0.0
    for batch in batches:
        seconds += timed(partial(store.index_many, batch))[0]
    after_write()
    latencies: list[float] = []
    answers: dict[str, tuple[int, list[str]]] = {}
    for text in QUERIES:
        elapsed, result = timed(partial(store.search, SearchRequest(query=parse(text), limit=20)))
        latencies.append(elapsed * 1000)
        every = store.search(SearchRequest(query=parse(text), limit=max(result.total, 1)))
        answers[text] = (every.total, [h.mention.id for h in every.hits])
    hist, _ = timed(partial(store.count_by_interval, T0, T0 + timedelta(days=30), 3600))
    p95 = statistics.quantiles(latencies, n=20)[18]
    p50 = statistics.median(latencies)
    print(f"{name:14} index {len(mentions) / seconds:8.0f} mentions/s   search p50 {p50:6.1f} ms"
          f"  p95 {p95:6.1f} ms   histogram {hist * 1000:6.1f} ms")
    return answers


@contextmanager
def sqlite_store() -> Iterator[tuple[Store, Callable[[], object]]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", tz=TZ)
        yield store, lambda: None
        store.close()


@contextmanager
def es_store(url: str) -> Iterator[tuple[Store, Callable[[], object]]]:
    from elasticsearch import Elasticsearch

    from yuqing.storage.elasticsearch import ElasticsearchStore

    store = ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}"), tz=TZ)
    store.setup()
    admin = Elasticsearch(url)
    try:  # writes with refresh off, as in production; one refresh before the searches
        yield store, lambda: admin.indices.refresh(index=store.names.read_alias)
    finally:
        store.drop()
        store.close()
        admin.close()


def compare(label: str, want: dict[str, tuple[int, set[str]]], got: dict[str, tuple[int, set[str]]]) -> None:
    differ = [q for q in want if got[q] != want[q]]
    print(f"agreement      {label}: {len(want) - len(differ)}/{len(want)} queries match the same mentions")
    for q in differ[:10]:
        print(f"  differs: {q!r}: sqlite {want[q][0]}, elasticsearch {got[q][0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    mentions, demo = corpus(args.n, args.seed), demo_corpus()
    demo_queries = substring_queries(demo, 300, args.seed)
    index_tokens("预热")  # load jieba's dictionary before anything is timed
    print(f"{args.n} synthetic mentions, {len(QUERIES)} queries; {len(demo)} demo posts, {len(demo_queries)} queries")
    backends = [("sqlite", sqlite_store)]
    url = os.environ.get("YUQING_TEST_ES_URL")
    if url:
        backends.append(("elasticsearch", partial(es_store, url)))
    results = []
    for name, opened in backends:
        with opened() as (store, refresh):
            ranked = run(name, store, mentions, refresh)
        with opened() as (store, refresh):
            store.index_many(demo)
            refresh()
            results.append((ranked, answers(store, demo_queries)))
    if len(results) < 2:
        print("elasticsearch  skipped: set YUQING_TEST_ES_URL (tests/elasticsearch/node start)")
        return
    (want, want_demo), (got, got_demo) = results
    compare("synthetic", {q: (n, set(ids)) for q, (n, ids) in want.items()},
            {q: (n, set(ids)) for q, (n, ids) in got.items()})
    compare("demo substrings", want_demo, got_demo)
    overlap = [len(set(got[q][1][:10]) & set(want[q][1][:10])) / min(10, len(want[q][1]))
               for q in QUERIES if want[q][1]]
    print(f"ranking        top-10 overlap {statistics.mean(overlap):.0%} on average "
          "(scores differ: FTS5 bm25 vs Lucene)")


if __name__ == "__main__":
    main()
