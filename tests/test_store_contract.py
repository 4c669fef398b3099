"""The storage contract: the same tests run against every backend behind the seam (SQLite always,
Elasticsearch against the real node when YUQING_TEST_ES_URL is set — see tests/conftest.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.conftest import SHANGHAI
from yuqing.model import Mention
from yuqing.query import parse
from yuqing.storage.base import FacetRequest, SearchRequest, StoreError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def mention(i: int, title: str, content: str, *, hours: float = 0, source: str = "weibo",
            polarity: str = "neutral", institutions: tuple[str, ...] = ("招商银行",), **kw) -> Mention:
    kw.setdefault("categories", ["service"])
    kw.setdefault("risk", 0.3)
    return Mention(url=f"https://example.org/post/{i}", source=source, title=title, content=content,
                   published_at=T0 + timedelta(hours=hours), polarity=polarity, sentiment=0.5,
                   institutions=list(institutions), **kw)


CORPUS = [
    mention(1, "招商银行信用卡暴力催收", "客户反映遭到暴力催收，催收人员多次骚扰家人。", hours=0, polarity="negative",
            risk=0.9, categories=["暴力催收", "骚扰"], author="张 三"),
    mention(2, "招行网点服务好", "今天在网点办业务，工作人员态度很好。", hours=1, polarity="positive", source="news",
            risk=0.1, author="李四"),
    mention(3, "信用卡年费争议", "信用卡年费被乱收，客服说会退还。", hours=2, polarity="negative", risk=0.6,
            categories=["乱收费"]),
    mention(4, "平安银行理财亏损", "理财产品亏损严重，销售时说保本。", hours=3, polarity="negative",
            institutions=("平安银行",), source="guba", repost_of="a-weibo-original", group_id="a-weibo-original",
            published_estimated=True, risk=0.61, categories=["误导销售"]),
    mention(5, "CMB Credit Card outage", "The mobile app was down for hours.", hours=4, source="news", risk=None),
    mention(6, "催收电话", "每天接到催收电话，但不是招商银行打来的。", hours=26, polarity="negative",
            institutions=(), risk=0.59, categories=["暴力催收"], group_id="a-weibo-original"),
]


@pytest.fixture
def filled(store):
    report = store.index_many(CORPUS)
    assert (report.created, report.updated, report.failed) == (len(CORPUS), 0, [])
    return store


def ids(result):
    return sorted(int(h.mention.url.rsplit("/", 1)[1]) for h in result.hits)


def find(store, query="", **kw):
    kw.setdefault("limit", 50)
    return store.search(SearchRequest(query=parse(query), **kw))


def test_replay_updates_instead_of_duplicating(filled):
    changed = CORPUS[0]
    changed.polarity = "neutral"
    report = filled.index_many([changed, CORPUS[1]])
    assert (report.created, report.updated) == (0, 2)
    assert find(filled).total == len(CORPUS)
    assert filled.get(changed.id).polarity == "neutral"
    changed.polarity = "negative"


def test_get_round_trips_every_field(filled):
    got = filled.get(CORPUS[3].id)
    want = CORPUS[3]
    assert got.to_dict() == want.to_dict()
    assert got.published_at.utcoffset() == timedelta(hours=8)
    assert filled.get("no-such-id") is None


def test_empty_query_lists_newest_first(filled):
    result = find(filled)
    assert result.total == len(CORPUS)
    published = [h.mention.published_at for h in result.hits]
    assert published == sorted(published, reverse=True)


@pytest.mark.parametrize("query, want", [
    ("催收", [1, 6]),
    ("银行", [1, 4, 6]),  # 银行 finds 招商银行 / 平安银行 inside longer words
    ("招商银行", [1, 6]),
    ("信用卡 年费", [3]),
    ("催收 OR 年费", [1, 3, 6]),
    ("催收 NOT 招商银行", []),
    ("信用卡 -年费", [1]),
    ('"暴力 催收"', [1]),
    ("暴力催收", [1]),
    ("(催收 OR 理财) 银行", [1, 4, 6]),
    ("cmb", [5]),
    ("Credit card", [5]),
    ("不存在的词", []),
])
def test_query_syntax(filled, query, want):
    result = find(filled, query)
    assert ids(result) == want
    assert result.total == len(want)


@pytest.mark.parametrize("query, want", [
    ("source:news", [2, 5]),
    ("source:News", []),  # exact, as stored
    ("-source:news", [1, 3, 4, 6]),
    ("institution:平安银行", [4]),
    ("institution:平安", []),  # the canonical name, not a part of it
    ("polarity:negative", [1, 3, 4, 6]),
    ("polarity:negative source:guba", [4]),
    ("category:暴力催收", [1, 6]),
    ("category:暴力催收 OR category:乱收费", [1, 3, 6]),
    ('author:"张 三"', [1]),
    ("author:李四 OR author:王五", [2]),
    ("risk:>0.6", [1, 4]),
    ("risk:>=0.6", [1, 3, 4]),
    ("risk:<0.6", [2, 6]),
    ("risk:<=0.6", [2, 3, 6]),
    ("risk:0.6", [3]),
    ("risk:=0.61", [4]),
    ("risk:>=0.59 risk:<0.61", [3, 6]),
    ("risk:<0", []),
    ("risk:>=0", [1, 2, 3, 4, 6]),  # a mention without a risk compares with nothing
    ("NOT risk:>=0", [5]),
    ("催收 polarity:negative -institution:招商银行", [6]),  # 6 names no watched institution
    ("催收 polarity:negative", [1, 6]),
    ("(催收 OR 年费) category:暴力催收", [1, 6]),
    ("银行 OR source:news", [1, 2, 4, 5, 6]),
    ("-催收 -source:news", [3, 4]),
])
def test_field_filters(filled, query, want):
    result = find(filled, query)
    assert ids(result) == want
    assert result.total == len(want)


def test_hits_are_highlighted_and_escaped(filled):
    result = find(filled, "催收")
    for hit in result.hits:
        assert "<mark>催收</mark>" in hit.highlight
        assert "<script" not in hit.highlight


@pytest.mark.parametrize("filters, want", [
    ({"polarity": "negative"}, [1, 3, 4, 6]),
    ({"source": "news"}, [2, 5]),
    ({"institution": "平安银行"}, [4]),
    ({"allowed_institutions": ("平安银行",)}, [4]),  # a user limited to some institutions
    ({"allowed_institutions": ("平安银行", "招商银行")}, [1, 2, 3, 4, 5]),
    ({"allowed_institutions": ()}, []),
    ({"allowed_institutions": ("平安银行",), "institution": "招商银行"}, []),
    ({"since": T0 + timedelta(hours=2)}, [3, 4, 5, 6]),
    ({"until": T0 + timedelta(hours=2)}, [1, 2]),  # until is exclusive
    ({"since": T0 + timedelta(hours=1), "until": T0 + timedelta(hours=4), "polarity": "negative"}, [3, 4]),
])
def test_filters(filled, filters, want):
    assert ids(find(filled, **filters)) == want


def test_group_filter_keeps_one_repost_group(filled):
    """A group is its mentions' `group_id`, or the id of a mention that has none (as the facets count)."""
    assert ids(find(filled, group_id="a-weibo-original")) == [4, 6]
    assert ids(find(filled, group_id=CORPUS[1].id)) == [2]
    assert ids(find(filled, "催收", group_id="a-weibo-original")) == [6]
    assert ids(find(filled, "催收", group_id="a-weibo-original", sort="risk")) == [6]
    assert ids(find(filled, group_id="no-such-group")) == []
    result = find(filled, group_id="a-weibo-original", facets=FacetRequest(size=5))
    assert (result.total, result.facets.groups) == (2, [("a-weibo-original", 2)])


def test_filters_combine_with_query(filled):
    assert ids(find(filled, "银行", institution="招商银行", polarity="negative")) == [1]


def test_limit_offset_and_exact_total(filled):
    first = find(filled, limit=2)
    second = find(filled, limit=2, offset=2)
    assert first.total == second.total == len(CORPUS)
    assert len(first.hits) == len(second.hits) == 2
    assert not {h.mention.id for h in first.hits} & {h.mention.id for h in second.hits}


def order(result):
    return [int(h.mention.url.rsplit("/", 1)[1]) for h in result.hits]


def test_sort_by_time_risk_and_relevance(filled):
    assert order(find(filled, "", sort="time")) == [6, 5, 4, 3, 2, 1]
    assert order(find(filled, "", sort="risk")) == [1, 4, 3, 6, 2, 5]  # no risk: last
    assert order(find(filled, "source:news", sort="risk")) == [2, 5]
    # relevance: 信用卡 in the title and the body of 3, in the longer title of 1 only
    assert order(find(filled, "信用卡", sort="relevance")) == [3, 1]
    assert order(find(filled, "信用卡")) == [3, 1]  # the default with terms
    assert order(find(filled, "信用卡", sort="time")) == [3, 1]
    assert order(find(filled, "信用卡 OR 催收", sort="time")) == [6, 3, 1]
    assert order(find(filled, "polarity:negative")) == [6, 4, 3, 1]  # only filters: newest first


@pytest.mark.parametrize("query, sort", [("", "time"), ("", "risk"), ("催收 OR 银行 OR 信用卡", "relevance"),
                                         ("polarity:negative", "risk"), ("-催收", "time")])
def test_cursor_walks_every_hit_once_in_order(filled, query, sort):
    everything = find(filled, query, sort=sort)
    assert everything.next_cursor is None
    seen, cursor, pages = [], None, 0
    while True:
        page = find(filled, query, sort=sort, limit=2, cursor=cursor)
        assert page.total == everything.total
        seen += order(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == order(everything)
    assert pages == max(1, -(-everything.total // 2))


def test_a_cursor_of_another_search_is_refused(filled):
    from yuqing.storage.base import CursorError

    cursor = find(filled, "", sort="time", limit=2).next_cursor
    assert cursor
    with pytest.raises(CursorError, match="another search"):
        find(filled, "催收", sort="time", limit=2, cursor=cursor)
    with pytest.raises(CursorError, match="another search"):
        find(filled, "", sort="risk", limit=2, cursor=cursor)
    with pytest.raises(CursorError, match="not a search cursor"):
        find(filled, "", sort="time", limit=2, cursor="nonsense")
    with pytest.raises(CursorError, match="offset"):
        find(filled, "", sort="time", limit=2, cursor=cursor, offset=2)


def test_limit_zero_only_counts(filled):
    result = find(filled, "催收", limit=0)
    assert (result.total, result.hits, result.next_cursor) == (2, [], None)


def test_facets_count_every_match_not_only_the_page(filled):
    from yuqing.storage.base import FacetRequest

    result = find(filled, "", limit=1, facets=FacetRequest(interval_seconds=86400, size=10))
    f = result.facets
    assert f.sources == [("weibo", 3), ("news", 2), ("guba", 1)]
    assert f.institutions == [("招商银行", 4), ("平安银行", 1)]
    assert f.categories == [("service", 2), ("暴力催收", 2), ("乱收费", 1), ("误导销售", 1), ("骚扰", 1)]
    assert f.groups[0] == ("a-weibo-original", 2)
    assert sorted(f.groups[1:]) == sorted((m.id, 1) for m in CORPUS if not m.group_id)
    # days from midnight (configured zone): 09:00-13:00 on day one, 11:00 the day after
    assert [(b.start, b.counts) for b in f.timeline] == [
        (datetime(2026, 3, 2, tzinfo=SHANGHAI), {"negative": 3, "positive": 1, "neutral": 1}),
        (datetime(2026, 3, 3, tzinfo=SHANGHAI), {"negative": 1})]
    assert all(b.start.utcoffset() == timedelta(hours=8) for b in f.timeline)


def test_facets_follow_the_query_filters_and_size(filled):
    from yuqing.storage.base import FacetRequest

    since = T0 - timedelta(hours=1)
    result = find(filled, "催收 OR 年费", since=since, facets=FacetRequest(interval_seconds=3600 * 12, size=1))
    f = result.facets
    assert result.total == 3
    assert f.sources == [("weibo", 3)]
    assert f.institutions == [("招商银行", 2)]
    assert f.categories == [("暴力催收", 2)]
    assert f.groups in ([(CORPUS[0].id, 1)], [(CORPUS[2].id, 1)], [("a-weibo-original", 1)])
    # 12-hour buckets from `since` (08:00): 08-20 holds 1 and 3, 20-08 nothing, 08-20 next day holds 6
    assert [(b.start, b.total) for b in f.timeline] == [(since, 2), (since + timedelta(hours=12), 0),
                                                       (since + timedelta(hours=24), 1)]
    assert find(filled, "不存在的词", facets=FacetRequest()).facets.timeline == []


def test_count_by_interval_fills_empty_buckets(filled):
    since = T0 - timedelta(hours=1)
    buckets = filled.count_by_interval(since, since + timedelta(hours=8), 3600 * 2)
    assert [b for b, _ in buckets] == [since + timedelta(hours=2 * i) for i in range(4)]
    assert [n for _, n in buckets] == [1, 2, 2, 0]  # hours 0 | 1, 2 | 3, 4 | -
    assert all(b.utcoffset() == timedelta(hours=8) for b, _ in buckets)


def test_count_by_interval_filters(filled):
    since = T0 - timedelta(hours=1)
    until = T0 + timedelta(days=2)
    negative = filled.count_by_interval(since, until, 86400, polarity="negative")
    assert [n for _, n in negative] == [3, 1, 0]  # 49 hours: the last bucket is partial
    cmb = filled.count_by_interval(since, until, 86400, institution="招商银行", polarity="negative")
    assert [n for _, n in cmb] == [2, 0, 0]


# -- errors: every failure is a StoreError ------------------------------------------------------

def test_setup_is_idempotent(store):
    assert store.setup()  # says what it did or found
    again = store.setup()
    assert again and all(line.startswith(("unchanged", "skipped")) for line in again)
    assert store.index_many(CORPUS[:1]).created == 1


def test_a_closed_store_raises_store_error_on_every_call(store):
    store.index_many(CORPUS[:1])
    store.close()
    store.close()  # idempotent
    since = T0 - timedelta(hours=1)
    calls = [lambda: store.index_many(CORPUS[1:2]), lambda: store.get(CORPUS[0].id),
             lambda: find(store), lambda: store.count_by_interval(since, since + timedelta(hours=2), 3600),
             lambda: list(store.scan()), lambda: store.prune(T0), store.count]
    for call in calls:
        with pytest.raises(StoreError, match="closed"):
            call()


def test_a_document_the_backend_refuses_is_reported_and_the_rest_written(store):
    bad = mention(90, "坏文档", "情感分数不是数字。")
    bad.sentiment = float("nan")
    report = store.index_many([CORPUS[0], bad, CORPUS[1]])
    assert report.created == 2
    assert [i for i, _ in report.failed] == [bad.id] and report.failed[0][1]
    assert store.get(bad.id) is None and store.get(CORPUS[1].id) is not None


def test_an_old_sqlite_store_is_migrated_and_keeps_its_mentions(tmp_path):
    """A file written by yuqing before repost groups (schema 1) opens, upgrades in place, and its
    mentions are found and read back with `group_id` "" (their own group)."""
    import sqlite3

    from yuqing.storage.sqlite import MIGRATIONS, SqliteStore, migrate

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, path, MIGRATIONS[:1], "schema_version")
    old = CORPUS[0].to_dict()
    del old["group_id"]
    db.execute("INSERT INTO mentions (id, source, polarity, published_ts, doc) VALUES (?, ?, ?, ?, ?)",
               (old["id"], old["source"], old["polarity"], CORPUS[0].published_at.timestamp(),
                json.dumps(old, ensure_ascii=False)))
    db.execute("INSERT INTO mentions_fts (rowid, title, body) VALUES (1, '招商 银行 招商银行', '暴力 催收')")
    db.close()
    store = SqliteStore(path, tz=SHANGHAI)
    assert store.schema_version == len(MIGRATIONS)
    assert store.setup() == [f"unchanged: {path} at schema_version {len(MIGRATIONS)}"]
    assert ids(find(store, "催收")) == [1]
    assert store.get(CORPUS[0].id).group_id == ""
    store.close()


def test_opening_a_sqlite_store_does_not_wait_for_a_writer(tmp_path):
    """`yuqing search` opens the store while a crawl holds a write transaction: a current schema is
    read, not migrated, so opening and searching go on at once (WAL readers never wait)."""
    import sqlite3

    from yuqing.storage.sqlite import SqliteStore

    path = tmp_path / "busy.db"
    first = SqliteStore(path, tz=SHANGHAI)
    first.index_many(CORPUS)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        SqliteStore.BUSY_TIMEOUT, timeout = 0.1, SqliteStore.BUSY_TIMEOUT
        reader = SqliteStore(path, tz=SHANGHAI)
        assert find(reader, "催收").total == 2
        reader.close()
    finally:
        SqliteStore.BUSY_TIMEOUT = timeout
        writer.execute("ROLLBACK")
        writer.close()
        first.close()


def test_an_unreachable_sqlite_store_is_a_store_error(tmp_path):
    from yuqing.storage.sqlite import SqliteStore

    (tmp_path / "a-folder.db").mkdir()  # a folder where the file should be
    with pytest.raises(StoreError, match="a-folder.db"):
        SqliteStore(tmp_path / "a-folder.db", tz=SHANGHAI)


@pytest.mark.elasticsearch
def test_an_unreachable_elasticsearch_is_a_store_error():
    import socket

    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = ElasticsearchStore(ElasticsearchConfig(url=f"http://127.0.0.1:{port}", timeout_seconds=5), tz=SHANGHAI)
    for call in (store.setup, lambda: store.index_many(CORPUS[:1]), lambda: find(store)):
        with pytest.raises(StoreError, match=f"cannot reach Elasticsearch at http://127.0.0.1:{port}"):
            call()
    store.close()


# -- several processes writing one store --------------------------------------------------------

WRITER = """
import sys
from datetime import datetime, timedelta
from tests.conftest import SHANGHAI, open_test_store
from yuqing.model import Mention

backend, where, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = open_test_store(backend, where)
t0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
total = 0
for start in range(0, n, 10):  # many small transactions, interleaved with the other writer's
    batch = [Mention(url=f"https://example.org/w{worker}/{i}", source="weibo", title=f"写入 {worker} {i}",
                     content="两个进程同时写同一个库。", published_at=t0 + timedelta(minutes=i))
             for i in range(start, min(n, start + 10))]
    report = store.index_many(batch)
    assert not report.failed, report.failed
    total += report.created
store.close()
print(total)
"""


def test_two_processes_writing_one_store_lose_nothing(store, store_location):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    n = 100
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, *store_location, str(w), str(n)], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    results = [w.communicate(timeout=300) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err[-2000:] for _, err in results]
    assert [int(out) for out, _ in results] == [n, n]
    assert find(store, "写入").total == 2 * n


# -- scan and prune ----------------------------------------------------------------------------

def test_scan_yields_every_match_once_in_batches(filled):
    batches = list(filled.scan(batch_size=4))
    assert [len(b) for b in batches] == [4, 2]
    seen = [m.id for b in batches for m in b]
    assert sorted(seen) == sorted(m.id for m in CORPUS)
    assert [m.id for b in filled.scan(batch_size=4) for m in b] == seen  # a stable order
    assert batches[0][0].to_dict() == filled.get(batches[0][0].id).to_dict()  # whole mentions


@pytest.mark.parametrize("query, filters", [
    ("催收", {}), ("银行", {"polarity": "negative"}), ("", {"source": "news"}),
    ("", {"since": T0 + timedelta(hours=2), "until": T0 + timedelta(hours=5)}), ("不存在的词", {}),
])
def test_scan_finds_what_search_finds(filled, query, filters):
    request = SearchRequest(query=parse(query), limit=1, **filters)  # the limit does not bound a scan
    scanned = sorted(m.id for b in filled.scan(request, batch_size=2) for m in b)
    assert scanned == sorted(h.mention.id for h in find(filled, query, **filters).hits)


def test_scan_is_not_bounded_by_a_result_window(store, store_location):
    """On Elasticsearch the index's result window is cut to 50 here: from/size paging would stop
    there (the same holds for the default 10,000 at scale: benchmarks/bench_dataops.py)."""
    if store_location[0] == "elasticsearch":
        from elasticsearch import Elasticsearch

        url, _ = store_location[1].split(" ")
        with Elasticsearch(url) as raw:
            raw.indices.put_settings(index=store.names.read_alias, settings={"index.max_result_window": 50})
    n = 137
    store.index_many(mention(1000 + i, f"扫描 {i}", "全部导出。", hours=i) for i in range(n))
    batches = list(store.scan(SearchRequest(query=parse("扫描")), batch_size=20))
    assert len(batches) == 7 and all(len(b) <= 20 for b in batches)
    got = [m.id for b in batches for m in b]
    assert len(got) == len(set(got)) == n


def test_prune_deletes_what_is_older_and_dry_run_only_counts(filled):
    cutoff = T0 + timedelta(hours=2)
    assert filled.prune(cutoff, dry_run=True) == 2  # hours 0 and 1
    assert filled.count() == len(CORPUS)
    assert filled.prune(cutoff) == 2
    assert filled.count() == len(CORPUS) - 2
    assert filled.get(CORPUS[0].id) is None and filled.get(CORPUS[2].id) is not None
    assert ids(find(filled, "催收")) == [6]  # gone from the text index too
    assert ids(find(filled, institution="招商银行")) == [3, 5]
    assert filled.prune(cutoff) == 0
    assert filled.index_many(CORPUS[:1]).created == 1  # a pruned id can come back
