"""End-to-end crawl tests: the real runner starts the real Scrapy engine in a child process, which
crawls saved copies of real page/API structures served from tests/fixtures/sites by a local HTTP
server, analyses with the real nlp.Analyzer and writes to a real SQLite store in a temp data dir."""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

from app.crawl import LOCAL_SITE_SETTINGS, CrawlError
from app.demo.site import serve_local
from app.services import Services
from crawlers.spiders.heimao import SIGNATURE_SALT
from tests.conftest import crawl
from yuqing.datadir import HealthRecord
from yuqing.model import Mention, mention_id
from yuqing.query import parse
from yuqing.storage import SearchRequest
from yuqing.storage.sqlite import SqliteStore

SITES = Path(__file__).parent / "fixtures" / "sites"
ROUTES = json.loads((SITES / "routes.json").read_text(encoding="utf-8"))

INSTITUTIONS = [
    {"name": "锦程银行", "aliases": ["锦程", "锦程信用卡", "锦程消费金融"], "exclude": ["锦程路", "锦程大道"]},
    {"name": "华岳保险", "aliases": ["华岳人寿"]},
]


@dataclass
class Received:
    path: str  # with the query
    headers: Message


@dataclass
class Site:
    url: str = ""
    received: list[Received] = field(default_factory=list)

    @property
    def requests(self) -> list[str]:
        return [r.path for r in self.received]


def _route(path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
    for r in ROUTES["routes"]:
        if r["path"] == path and all(query.get(k) == [v] for k, v in r.get("query", {}).items()):
            time.sleep(r.get("delay", 0))
            body = (SITES / r["file"]).read_bytes() if "file" in r else r["body"].encode()
            return r.get("status", 200), r["type"], body
    file = (SITES / unquote(path).lstrip("/")).resolve()
    if SITES.resolve() not in file.parents or not file.is_file():
        return 404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>"
    relative = file.relative_to(SITES.resolve()).as_posix()
    content_type = next(t for prefix, t in ROUTES["types"] if relative.startswith(prefix))
    return 200, content_type, file.read_bytes()


def _respond(path: str) -> tuple[int, str, bytes]:
    parts = urlsplit(path)
    return _route(parts.path, parse_qs(parts.query))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """tests/fixtures/sites on 127.0.0.1, port 0; records every request's path+query and headers."""
    site = Site()
    server = serve_local(_respond)

    # serve_local hands `respond` the path only; the headers are recorded by the handler.
    class Recording(server.RequestHandlerClass):  # type: ignore[name-defined]
        def do_GET(self) -> None:
            site.received.append(Received(self.path, self.headers))
            super().do_GET()

    server.RequestHandlerClass = Recording  # before any request: the fixture has not yielded yet
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    server.shutdown()
    server.server_close()


def write_config(directory: Path, sources: list[dict[str, Any]], store: dict[str, Any] | None = None,
                 institutions: list[dict[str, Any]] | None = None) -> str:
    data: dict[str, Any] = {"institutions": INSTITUTIONS if institutions is None else institutions,
                            "sources": sources}
    if store:
        data["store"] = store
    path = directory / "yuqing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def all_sources(base: str) -> list[dict[str, Any]]:
    return [
        {"name": "news", "type": "rss", "params": {"urls": [f"{base}/news/feed.xml", f"{base}/news/atom.xml"]}},
        {"name": "broken-feed", "type": "rss", "params": {"url": f"{base}/news/broken.xml"}},
        {"name": "bbs", "type": "html", "params": {
            "start_urls": [f"{base}/bbs/forum-1.html"],
            "list_item": "tbody[id^=normalthread] th",
            "link": "a.xst::attr(href)",
            "next_page": "div.pg a.nxt::attr(href)",
            "detail": {"title": "#thread_subject::text", "content": "td.t_f",
                       "author": "div.authi a.xw1::text", "published_at": "em[id^=authorposton]::text"},
            "date_format": "发表于 %Y-%m-%d %H:%M",
            "max_pages": 5}},
        # GBK pages served as charset=utf-8 (it happens): the `encoding` param overrides the server.
        {"name": "bbs-mislabeled", "type": "html", "params": {
            "start_urls": [f"{base}/mislabeled/forum-2.html"], "link": "//th/a[contains(@class, 'xst')]/@href",
            "detail": {"title": "#thread_subject::text", "content": "td.t_f",
                       "published_at": "//em[starts-with(@id, 'authorposton')]/text()"},
            "date_format": "发表于 %Y-%m-%d %H:%M", "encoding": "gbk"}},
        {"name": "weibo", "type": "weibo", "params": {"base_url": f"{base}/weibo", "keywords": ["锦程银行"]}},
        {"name": "tieba", "type": "tieba", "params": {"base_url": f"{base}/tieba", "forums": ["锦程银行"],
                                                      "max_pages": 1}},
        {"name": "guba", "type": "guba", "params": {"base_url": f"{base}/guba", "boards": {"601999": "锦程银行"},
                                                    "max_pages": 1}},
        {"name": "heimao", "type": "heimao", "params": {"base_url": f"{base}/heimao", "keywords": ["锦程银行"]}},
    ]


def stored(data_dir: Path) -> dict[str, Mention]:
    store = SqliteStore(data_dir / "yuqing.db")
    try:
        result = store.search(SearchRequest(query=parse(""), limit=1000))
    finally:
        store.close()
    return {hit.mention.id: hit.mention for hit in result.hits}


def by_source(mentions: dict[str, Mention], source: str) -> dict[str, Mention]:
    return {m.url: m for m in mentions.values() if m.source == source}


def run(config: str, data_dir: Path, **kwargs: Any) -> dict[str, HealthRecord]:
    reports = crawl(config, str(data_dir), timeout=60, settings=LOCAL_SITE_SETTINGS, **kwargs)
    return {r.name: r for r in reports}


@pytest.fixture(scope="module")
def first_crawl(site: Site, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, HealthRecord], Path]:
    data_dir = tmp_path_factory.mktemp("data")
    config = write_config(data_dir, all_sources(site.url))
    return run(config, data_dir), data_dir


def test_rss_and_atom_items_are_parsed_filtered_and_stored(first_crawl, site):
    reports, data_dir = first_crawl
    news = by_source(stored(data_dir), "news")
    item = news["https://news.example.com/a/1001.html?utm_source=rss"]
    assert item.title == "锦程银行信用卡中心被指外包催收“爆通讯录”"
    assert "言语威胁" in item.content and "<" not in item.content
    assert item.author == "记者 王晓雯"
    assert item.published_at == datetime.fromisoformat("2026-11-23T09:15:00+08:00")
    assert item.polarity and item.institutions == ["锦程银行"]
    assert f"{site.url}/a/1007.html" in news  # a relative link, resolved against the feed URL
    atom = news["https://blog.example.org/2026/11/jincheng-wealth"]
    assert "风险提示不足" in atom.content and atom.author == "银行业观察员"
    assert news["https://blog.example.org/2026/11/huayue-award"].published_at == \
        datetime.fromisoformat("2026-11-24T00:00:00+00:00")
    # 锦程路 (excluded word) and the market report are not about a watched institution.
    assert not any("1003" in u or "1004" in u for u in news)
    r = reports["news"]
    assert (r.scraped, r.stored, r.filtered, r.rejected) == (9, 5, 2, 2)
    assert r.errors == [] and r.reachable


def test_invalid_items_are_rejected_to_a_file_with_the_reason(first_crawl):
    _, data_dir = first_crawl
    lines = [json.loads(line) for f in sorted((data_dir / "rejects").glob("*.jsonl"))
             for line in f.read_text(encoding="utf-8").splitlines()]
    reasons = {(r["source"], r["item"].get("title")): r["reason"] for r in lines}
    assert "needs a url" in reasons[("news", "锦程银行下调部分定期存款利率")]
    assert "unreadable date '昨天下午'" in reasons[("news", "锦程消费金融回应“砍头息”质疑")]


def test_malformed_feed_is_read_leniently_and_reported_with_its_url(first_crawl, site):
    reports, data_dir = first_crawl
    r = reports["broken-feed"]
    # One bad character no longer loses the feed: the readable item is stored, the problem reported.
    assert r.stored == 1 and by_source(stored(data_dir), "broken-feed")["https://broken.example.com/1"]
    assert (r.state, r.state_url) == ("degraded", f"{site.url}/news/broken.xml")
    assert "not well-formed XML" in r.state_reason and len(r.errors) == 1
    assert "broken-feed" in r.summary() and "not well-formed" in r.summary()


def test_gbk_forum_with_pagination_and_failing_pages(first_crawl, site):
    reports, data_dir = first_crawl
    bbs = by_source(stored(data_dir), "bbs")
    first = bbs[f"{site.url}/bbs/thread-1001-1-1.html"]
    assert first.title == "锦程银行的客户经理私自给我买了保险"
    assert "五年期的分红险" in first.content and "aimgcount" not in first.content
    assert first.author == "滨江老张"
    assert first.published_at == datetime.fromisoformat("2026-11-24T21:05:00+08:00")
    assert f"{site.url}/bbs/thread-1003-1-1.html" in bbs  # found on page 2 (served with charset=GBK)
    assert len(bbs) == 2
    r = reports["bbs"]
    assert (r.scraped, r.stored, r.filtered) == (3, 2, 1)
    assert f"HTTP 500 from {site.url}/bbs/thread-1004-1-1.html" in r.errors
    assert f"HTTP 404 from {site.url}/bbs/thread-1005-1-1.html" in r.errors


def test_encoding_param_overrides_a_wrong_charset_header(first_crawl, site):
    reports, data_dir = first_crawl
    (post,) = by_source(stored(data_dir), "bbs-mislabeled").values()
    assert post.title == "华岳保险的退保流程太复杂了" and "跑了三趟" in post.content
    assert post.published_at == datetime.fromisoformat("2026-11-20T16:40:00+08:00")
    assert reports["bbs-mislabeled"].stored == 1


def test_weibo_search_api(first_crawl, site):
    reports, data_dir = first_crawl
    weibo = by_source(stored(data_dir), "weibo")
    post = weibo[f"{site.url}/weibo/detail/5021111111111002"]
    assert post.id == mention_id(platform="weibo", post_id="5021111111111002")
    assert post.engagement == 12000 + 356 + 820  # "1.2万" reposts
    assert "\xa0" not in post.content and "盗刷" in post.content
    assert post.content.endswith("不然影响征信。") and "全文" not in post.content  # the long text, fetched
    assert post.published_at is not None and post.published_at.strftime("%H:%M") == "08:30"
    angry = weibo[f"{site.url}/weibo/detail/5021111111111001"]
    assert "[怒]" in angry.content and "#锦程银行#" in angry.content and "href" not in angry.content
    assert angry.author == "一只不想上班的猫"
    assert f"{site.url}/weibo/detail/5021111111111003" in weibo  # from a card_group
    assert f"{site.url}/weibo/detail/5021111111111004" not in weibo  # 锦程路: excluded
    assert (reports["weibo"].scraped, reports["weibo"].stored, reports["weibo"].filtered) == (5, 4, 1)
    assert reports["weibo"].errors == []
    assert any(p.startswith("/weibo/api/container/getIndex?containerid=100103type%3D1%26q%3D%E9%94%A6")
               for p in site.requests)


def test_tieba_list_hidden_in_code_comments_and_thread_pages(first_crawl, site):
    reports, data_dir = first_crawl
    tieba = by_source(stored(data_dir), "tieba")
    thread = tieba[f"{site.url}/tieba/p/9001"]
    assert "不是违规了" in thread.content and thread.author == "还贷打工人"
    assert thread.published_at == datetime.fromisoformat("2026-11-24T09:41:00+08:00")
    assert thread.engagement == 24
    # The thread page of 9002 is gone (404): its list entry is kept instead.
    kept = tieba[f"{site.url}/tieba/p/9002"]
    assert kept.title == "锦程信用卡分期手续费到底怎么算的" and "年化" in kept.content
    assert (kept.published_at.month, kept.published_at.day) == (11, 23)
    assert f"{site.url}/tieba/p/9003" not in tieba
    assert (reports["tieba"].stored, reports["tieba"].filtered) == (2, 1)


def test_guba_board_posts_count_for_the_boards_institution(first_crawl, site):
    reports, data_dir = first_crawl
    guba = by_source(stored(data_dir), "guba")
    post = guba[f"{site.url}/guba/news,601999,1380001.html"]
    assert "锦程" not in post.text  # relevant because of the board, not the text
    assert post.institutions[0] == "锦程银行"
    assert "不良率" in post.content and post.author == "韭菜一号" and post.engagement == 19
    assert post.published_at == datetime.fromisoformat("2026-11-26T14:32:10+08:00")
    html_only = guba[f"{site.url}/guba/news,601999,1380002.html"]  # no embedded JSON: read from the HTML
    assert "补充资本金" in html_only.content
    assert reports["guba"].stored == 2


def test_heimao_complaints_with_a_signed_query(first_crawl, site):
    reports, data_dir = first_crawl
    heimao = by_source(stored(data_dir), "heimao")
    c = heimao["https://tousu.sina.com.cn/complaint/view/17390000001/"]
    assert c.title == "锦程银行信用卡中心暴力催收，骚扰家人"
    for part in ("威胁上门", "投诉对象：锦程银行信用卡中心", "投诉要求：停止骚扰，协商分期还款", "投诉进度：处理中"):
        assert part in c.content
    assert c.published_at == datetime.fromisoformat("2026-11-25T10:20:00+08:00")
    assert c.author == "黑猫用户8841" and c.id == mention_id(platform="heimao", post_id="17390000001")
    # From the complaint's page: the whole account and the company's reply in the progress steps.
    assert "发到单位群里" in c.content and "投诉编号" not in c.content
    assert "2026-11-26 16:30 锦程银行信用卡中心 商家回复：您好，已收到您的反馈" in c.content
    # The other complaint's page is missing (404): its search entry is kept, the source degraded.
    kept = heimao["https://tousu.sina.com.cn/complaint/view/17390000002/"]
    assert kept.title == "锦程消费金融乱收服务费" and "投诉要求：退还服务费" in kept.content
    assert reports["heimao"].stored == 2 and reports["heimao"].state == "degraded"
    query = next(parse_qs(urlsplit(p).query) for p in site.requests if p.startswith("/heimao/api/index/s"))
    parts = sorted([query["ts"][0], query["rs"][0], SIGNATURE_SALT, "锦程银行", "10", "1"])
    assert query["signature"][0] == hashlib.sha256("".join(parts).encode()).hexdigest()


def test_health_files_are_written_per_source(first_crawl):
    _, data_dir = first_crawl
    health = json.loads((data_dir / "health" / "bbs.json").read_text(encoding="utf-8"))
    assert health["stored"] == 2 and health["http_errors"] == 2 and health["last_success"]
    # Two thread pages lost, their list's posts stored: degraded, naming the first lost page.
    assert (health["state"], health["state_url"]) == ("degraded", health["errors"][0].split(" from ")[1])
    assert {p.stem for p in (data_dir / "health").glob("*.json")} == \
        {"news", "broken-feed", "bbs", "bbs-mislabeled", "weibo", "tieba", "guba", "heimao"}


def test_recrawl_is_idempotent(first_crawl, site):
    reports, data_dir = first_crawl
    before = stored(data_dir)
    again = run(str(data_dir / "yuqing.yaml"), data_dir, sources=["news", "weibo"])
    after = stored(data_dir)
    assert set(again) == {"news", "weibo"}
    assert again["news"].stored == reports["news"].stored  # written again, as updates
    assert set(after) == set(before)


WEIBO_COOKIE = "SUB=_2A25weibo-secret-4f1c; SUBP=0033WrSX-weibo-secret-2"
BBS_COOKIE = "Cookie: cdb_auth=bbs-secret-77d0"  # the whole header line, as copied from a browser


def test_configured_headers_and_cookies_reach_the_site_and_nowhere_else(site, tmp_path, monkeypatch):
    monkeypatch.setenv("YUQING_TEST_WEIBO_COOKIE", WEIBO_COOKIE)
    monkeypatch.setenv("YUQING_TEST_BBS_COOKIE", BBS_COOKIE)
    monkeypatch.delenv("YUQING_TEST_NO_COOKIE", raising=False)
    weibo_headers = {"Referer": "https://m.weibo.cn/search?containerid=100103", "X-Requested-With": "com.sina.weibo"}
    bbs = next(s for s in all_sources(site.url) if s["name"] == "bbs-mislabeled")
    bbs["params"].update(cookie_env="YUQING_TEST_BBS_COOKIE", headers={"X-Forum-Client": "yuqing"})
    config = write_config(tmp_path, [
        {"name": "weibo", "type": "weibo", "params": {"base_url": f"{site.url}/weibo", "keywords": ["锦程银行"],
                                                      "cookie_env": "YUQING_TEST_WEIBO_COOKIE",
                                                      "headers": weibo_headers}},
        bbs,
        {"name": "news", "type": "rss", "params": {"url": f"{site.url}/news/feed.xml",
                                                   "cookie_env": "YUQING_TEST_NO_COOKIE"}},
    ])
    start = len(site.received)
    reports = {r.name: r for r in crawl(config, str(tmp_path), timeout=60,
                                        settings={**LOCAL_SITE_SETTINGS, "LOG_LEVEL": "DEBUG"})}
    received = site.received[start:]

    def sent(prefix: str) -> list[Received]:
        return [r for r in received if r.path.startswith(prefix)]

    def cookies(r: Received) -> set[str]:
        return set(r.headers.get("Cookie", "").split("; ")) - {""}

    assert any(r.path.startswith("/weibo/statuses/extend") for r in sent("/weibo/"))  # not only the searches
    for r in sent("/weibo/"):
        assert cookies(r) == set(WEIBO_COOKIE.split("; "))
        assert r.headers["Referer"] == weibo_headers["Referer"]
        assert r.headers["X-Requested-With"] == "com.sina.weibo"  # the config overrides the spider's
    assert all(r.headers["MWeibo-Pwa"] == "1" for r in sent("/weibo/api/"))  # and keeps its other headers
    assert len(sent("/mislabeled/")) == 2
    for r in sent("/mislabeled/"):
        assert cookies(r) == {"cdb_auth=bbs-secret-77d0"} and r.headers["X-Forum-Client"] == "yuqing"
    assert sent("/news/") and not any(cookies(r) for r in sent("/news/"))

    # An unset variable: said once in the report and the log; the source is crawled anyway.
    unset = "cookie_env YUQING_TEST_NO_COOKIE is not set; crawling without a cookie"
    assert reports["news"].errors == [unset] and reports["news"].stored == 3
    assert reports["news"].summary().endswith(f"1 problem(s): {unset}")
    assert (reports["weibo"].stored, reports["weibo"].errors) == (4, [])
    assert (reports["bbs-mislabeled"].stored, reports["bbs-mislabeled"].errors) == (1, [])
    log = (tmp_path / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert f"source news: {unset}" in log
    written = {"crawl.log": log, "reports": repr(reports) + "".join(r.summary() for r in reports.values()),
               **{p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "health").glob("*.json")}}
    assert len(written) == 5
    assert [name for name, text in written.items() if "weibo-secret" in text or "bbs-secret" in text] == []


def _sqlite_at_a_directory(tmp_path: Path) -> dict[str, Any]:
    blocked = tmp_path / "not-a-database"
    blocked.mkdir()  # a directory where the SQLite file should be: the store cannot open
    return {"sqlite": {"path": str(blocked)}}


def _elasticsearch_down(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "elasticsearch", "elasticsearch": {"url": "http://127.0.0.1:9", "timeout": "2s"}}


@pytest.mark.parametrize("dead_store", [_sqlite_at_a_directory, _elasticsearch_down])
def test_store_failure_spools_mentions_and_the_next_crawl_replays_them(site, tmp_path, dead_store):
    sources = [{"name": "weibo", "type": "weibo", "params": {"base_url": f"{site.url}/weibo", "keywords": ["锦程"]}}]
    config = write_config(tmp_path, sources, store=dead_store(tmp_path))
    down = run(config, tmp_path)["weibo"]
    assert down.stored == 0 and down.spooled == 4
    assert any(e.startswith("store: ") and "spooled to" in e for e in down.errors)
    spooled = [Mention.from_dict(json.loads(line)) for f in (tmp_path / "spool" / "mentions").glob("*.jsonl")
               for line in f.read_text(encoding="utf-8").splitlines()]
    assert len(spooled) == 4 and all(m.polarity for m in spooled)  # analysed before spooling

    # The (default SQLite) store works again; the web API now fails, so all that is stored comes from the spool.
    sources[0]["params"]["base_url"] = f"{site.url}/gone"
    write_config(tmp_path, sources)
    up = run(config, tmp_path)["weibo"]
    assert up.scraped == 0 and any("HTTP 404" in e for e in up.errors)
    assert {m.id for m in spooled} == set(stored(tmp_path))
    assert list((tmp_path / "spool" / "mentions").glob("*")) == []
    health = json.loads((tmp_path / "health" / "weibo.json").read_text(encoding="utf-8"))
    assert health["replayed"] == 4


def test_unreachable_sources_are_reported_not_raised(tmp_path):
    config = write_config(tmp_path, [
        {"name": "nodns", "type": "rss", "params": {"url": "http://yuqing-test.invalid/feed.xml"}},
        {"name": "refused", "type": "rss", "params": {"url": "http://127.0.0.1:9/feed.xml"}},
    ])
    reports = run(config, tmp_path)
    assert not reports["nodns"].reachable and not reports["refused"].reachable
    assert reports["nodns"].summary() == "source nodns: cannot reach host yuqing-test.invalid: DNS lookup failed"
    assert "cannot reach host 127.0.0.1:9: connection refused" in reports["refused"].errors


def test_a_failing_child_is_reported_with_its_log_tail(tmp_path):
    from app.crawl import crawl as launch

    config = write_config(tmp_path, [])
    with Services.load(config, tmp_path) as services:
        services.config_path = str(tmp_path / "missing.yaml")  # the file went away after start-up
        with pytest.raises(CrawlError, match="(?s)exited with status 2.*config file not found"):
            launch(services)
    with pytest.raises(CrawlError, match="no source named 'nope'"):
        crawl(config, str(tmp_path), sources=["nope"])


def _news_and_a_slow_feed(site: Site, tmp_path: Path) -> str:
    return write_config(tmp_path, [
        {"name": "news", "type": "rss", "params": {"url": f"{site.url}/news/feed.xml"}},
        {"name": "slow", "type": "rss", "params": {"url": f"{site.url}/slow/feed.xml"}},  # answers after 20 s
    ])


def test_a_crawl_stopped_by_its_time_limit_keeps_what_it_already_found(site, tmp_path):
    # No bound on how long it took: that measures the machine. The limit (8 s) leaves the local
    # news feed ample time even on a loaded machine, and is far below the slow feed's 20 s.
    config = _news_and_a_slow_feed(site, tmp_path)
    reports = {r.name: r for r in crawl(config, str(tmp_path), timeout=8, settings=LOCAL_SITE_SETTINGS)}
    assert reports["slow"].finish_reason == "closespider_timeout" and "time limit" in reports["slow"].summary()
    assert reports["news"].stored == 3 == len(by_source(stored(tmp_path), "news"))


def test_a_crawl_terminated_midway_writes_what_it_holds(site, tmp_path):
    """SIGTERM (the runner's stop, a service shutdown) closes the spiders, so buffered mentions are stored."""
    # One spider for both feeds: the slow feed's pending request keeps it open after the news feed
    # is parsed, so (with batches too big and too patient to be written before the end) only the
    # shutdown flush can store the news mentions.
    config = write_config(tmp_path, [{"name": "news", "type": "rss",
                                      "params": {"urls": [f"{site.url}/news/feed.xml", f"{site.url}/slow/feed.xml"]}}])
    held = {**LOCAL_SITE_SETTINGS, "INGEST_BATCH_SIZE": 1000, "INGEST_BATCH_WAIT": 600, "DOWNLOAD_TIMEOUT": 5,
            "LOG_LEVEL": "DEBUG"}
    command = [sys.executable, "-m", "app.crawl", "--config", config, "--data-dir", str(tmp_path),
               *(f"--set={k}={json.dumps(v)}" for k, v in held.items())]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Scrapy logs each item as it leaves the spider: once the three news posts are out, they sit in
    # the ingest buffer. Waiting for that, not for some seconds, keeps the test right on a slow machine.
    scraped = threading.Event()
    log_lines: list[str] = []

    def watch() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            log_lines.append(line)
            if sum("Scraped from <200" in seen and "/news/feed.xml" in seen for seen in log_lines) == 3:
                scraped.set()

    threading.Thread(target=watch, daemon=True).start()
    assert scraped.wait(timeout=300), "".join(log_lines[-30:])  # a hang guard only
    assert not stored(tmp_path)
    child.send_signal(signal.SIGTERM)
    out = child.stdout.read() if child.stdout else ""
    child.wait(timeout=300)
    (report,) = json.loads(out.splitlines()[-1])["sources"]
    assert report["finish_reason"] == "shutdown"
    assert report["stored"] == 3 == len(by_source(stored(tmp_path), "news"))
