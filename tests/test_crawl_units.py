"""The crawl stage's plain parts: dates, relevance, params validation, text, spool and rejects."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from scrapy import Request
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError, IgnoreRequest

from crawlers.dates import parse_datetime
from crawlers.middlewares import cookie_jar_entries, describe_failure
from crawlers.sources import search_words, validate_sources
from crawlers.text import clean_html, count
from yuqing.config import ConfigError, from_mapping

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 15, 30, 0, tzinfo=SH)


@pytest.mark.parametrize("text, expected", [
    ("刚刚", NOW),
    ("5分钟前", NOW - timedelta(minutes=5)),
    ("3小时前", NOW - timedelta(hours=3)),
    ("2天前", NOW - timedelta(days=2)),
    ("今天 10:00", datetime(2026, 11, 27, 10, 0, tzinfo=SH)),
    ("昨天 23:59", datetime(2026, 11, 26, 23, 59, tzinfo=SH)),
    ("11-20", datetime(2026, 11, 20, tzinfo=SH)),
    ("11-20 08:05", datetime(2026, 11, 20, 8, 5, tzinfo=SH)),
    ("12-30", datetime(2025, 12, 30, tzinfo=SH)),  # a month-day still to come this year is last year's
    ("12:31", datetime(2026, 11, 27, 12, 31, tzinfo=SH)),
    ("Fri Nov 27 10:00:00 +0800 2026", datetime(2026, 11, 27, 10, 0, tzinfo=SH)),
    ("Mon, 23 Nov 2026 01:15:00 GMT", datetime(2026, 11, 23, 1, 15, tzinfo=UTC)),
    ("2026-11-25 10:32", datetime(2026, 11, 25, 10, 32, tzinfo=SH)),
    ("2026年11月25日 10:32", datetime(2026, 11, 25, 10, 32, tzinfo=SH)),
    ("2026/11/25", datetime(2026, 11, 25, tzinfo=SH)),
    ("2026-11-25T02:32:00Z", datetime(2026, 11, 25, 2, 32, tzinfo=UTC)),
    ("1795573200", datetime(2026, 11, 25, 10, 20, tzinfo=SH)),
    ("1795573200000", datetime(2026, 11, 25, 10, 20, tzinfo=SH)),
    ("2024-03", datetime(2024, 3, 1, tzinfo=SH)),
])
def test_dates_as_sites_show_them(text: str, expected: datetime):
    value = parse_datetime(text, SH, now=NOW)
    assert value == expected and value.tzinfo is not None


def test_date_format_and_bad_dates():
    assert parse_datetime("发表于 2026-11-24 21:05", SH, date_format="发表于 %Y-%m-%d %H:%M") == \
        datetime(2026, 11, 24, 21, 5, tzinfo=SH)
    for bad in ("昨天下午", "", "13-45", "next week"):
        with pytest.raises(ValueError):
            parse_datetime(bad, SH, now=NOW)


def _config(sources, institutions=({"name": "锦程银行"},)):
    return from_mapping({"institutions": list(institutions), "sources": sources}, "test.yaml", Path("/tmp/x"))


_LIST = {"start_urls": ["http://a/"], "link": "a", "detail": {"title": "h1", "published_at": "em"}}


@pytest.mark.parametrize("source, key, problem", [
    ({"type": "nope"}, "sources[0].type", "unknown source type"),
    ({"type": "rss", "params": {}}, "sources[0].params.url", "exactly one"),
    ({"type": "rss", "params": {"url": "ftp://x/feed"}}, "sources[0].params.url", "not an http(s) URL"),
    ({"type": "rss", "params": {"urls": ["http://a/f", 3]}}, "sources[0].params.urls[1]", "not an http(s) URL"),
    ({"type": "rss", "params": {"url": "http://a/f", "depth": 2}}, "sources[0].params.depth", "unknown parameter"),
    ({"type": "html", "params": {"start_urls": ["http://a/"], "link": "a::attr(href)"}},
     "sources[0].params.detail", "is required"),
    ({"type": "html", "params": {"start_urls": ["http://a/"], "link": "a[[", "detail": {"title": "h1"}}},
     "sources[0].params.link", "not a valid CSS selector"),
    ({"type": "html", "params": {"start_urls": ["http://a/"], "link": "//a[@href", "detail": {"title": "h1"}}},
     "sources[0].params.link", "not a valid XPath"),
    ({"type": "html", "params": {"start_urls": ["http://a/"], "link": "a", "detail": {"body": "p"}}},
     "sources[0].params.detail.body", "unknown field"),
    ({"type": "html", "params": {"start_urls": ["http://a/"], "link": "a", "detail": {"title": "h1"}}},
     "sources[0].params.detail.published_at", "is required"),
    ({"type": "html", "params": {**_LIST, "encoding": "klingon"}}, "sources[0].params.encoding",
     "unknown text encoding"),
    ({"type": "html", "params": {**_LIST, "date_format": "YYYY-MM-DD"}}, "sources[0].params.date_format", "strptime"),
    ({"type": "weibo", "params": {"max_pages": 0}}, "sources[0].params.max_pages", "at least 1"),
    ({"type": "guba", "params": {"boards": [600036]}}, "sources[0].params.boards", "quote them"),
    ({"type": "guba", "params": {"boards": {"600036": "招商银行"}}}, "sources[0].params.boards.600036",
     "not a configured institution"),
    ({"type": "tieba", "params": {"fetch_threads": "yes"}}, "sources[0].params.fetch_threads", "true or false"),
    ({"type": "weibo", "params": {"headers": {"cookie": "SUB=x"}}}, "sources[0].params.headers.cookie", "`cookie_env`"),
    ({"type": "heimao", "params": {"headers": {"Authorization": "Bearer x"}}},
     "sources[0].params.headers.Authorization", "stay out of the config file"),
    ({"type": "html", "params": {**_LIST, "headers": {"DNT": 1}}}, "sources[0].params.headers.DNT", "must be a string"),
    ({"type": "rss", "params": {"url": "http://a/f", "headers": {"Bad Name": "x"}}}, "sources[0].params.headers",
     "not an HTTP header name"),
    ({"type": "heimao", "params": {"headers": ["Referer: x"]}}, "sources[0].params.headers", "must map header names"),
    ({"type": "guba", "params": {"boards": ["600036"], "headers": {"Referer": "a\nb"}}},
     "sources[0].params.headers.Referer", "one line"),
    ({"type": "tieba", "params": {"cookie_env": "YUQING-COOKIE"}}, "sources[0].params.cookie_env",
     "name of an environment variable"),
    ({"type": "json", "params": {"url": "http://a/api", "items": "data.[",
                                 "fields": {"url": "u", "published_at": "t"}}},
     "sources[0].params.items", "not a valid JMESPath expression"),
    ({"type": "json", "params": {"url": "http://a/api", "items": "data", "fields": {"url": "u"}}},
     "sources[0].params.fields", "at least url and published_at"),
    ({"type": "json", "params": {"url": "http://a/api", "items": "data",
                                 "fields": {"url": "u", "published_at": "t", "body": "b"}}},
     "sources[0].params.fields.body", "unknown field"),
    ({"type": "json", "params": {"url": "http://a/api", "fields": {"url": "u", "published_at": "t"}}},
     "sources[0].params.items", "is required"),
    ({"type": "json", "params": {"url": "http://a/api", "items": "data", "platform": "my api",
                                 "fields": {"url": "u", "published_at": "t"}}},
     "sources[0].params.platform", "not a platform name"),
    ({"type": "sitemap", "params": {"url": "http://a/sitemap.xml", "allow": "(["}}, "sources[0].params.allow",
     "not a regular expression"),
    ({"type": "sitemap", "params": {"allow": "/news/"}}, "sources[0].params.url", "is required"),
    ({"type": "article", "params": {"urls": ["ftp://a/x"]}}, "sources[0].params.urls[0]", "not an http(s) URL"),
    ({"type": "weibo-web", "params": {"until": "2026-11-26 08:00"}}, "sources[0].params.until", "YYYY-MM-DD-H"),
    ({"type": "weibo-web", "params": {"window_hours": 0}}, "sources[0].params.window_hours", "at least 1"),
    ({"type": "heimao", "params": {"fetch_details": 1}}, "sources[0].params.fetch_details", "true or false"),
    ({"type": "guba", "params": {"boards": ["600036"], "caifuhao_base_url": "caifuhao"}},
     "sources[0].params.caifuhao_base_url", "not an http(s) URL"),
])
def test_source_params_are_validated_with_file_and_key(source, key, problem):
    with pytest.raises(ConfigError) as e:
        validate_sources(_config([{"name": "s", **source}]))
    assert e.value.where == "test.yaml" and e.value.key == key and problem in e.value.problem


def test_config_errors_never_echo_a_secret():
    for params in ({"cookie_env": "SUB=secret-1; SUBP=x"}, {"headers": {"Cookie": "SUB=secret-1"}},
                   {"headers": {"Authorization": ["Bearer secret-1"]}}, {"headers": {"Cookie SUB=secret-1": None}}):
        with pytest.raises(ConfigError) as e:
            validate_sources(_config([{"name": "w", "type": "weibo", "params": params}]))
        assert "secret-1" not in str(e.value)


@pytest.mark.parametrize("header, pairs", [
    ("SUB=_2A25a=b; SUBP=0033;", [("SUB", "_2A25a=b"), ("SUBP", "0033")]),
    (" Cookie: _T_WM=1 \n", [("_T_WM", "1")]),  # the whole header line, and the newline of `$(cat file)`
])
def test_cookie_header_values_become_jar_entries(header, pairs):
    assert cookie_jar_entries(header) == [{"name": n, "value": v, "path": "/"} for n, v in pairs]


@pytest.mark.parametrize("header", ["secret-1", "Cookie:", "SUB=secret-1; bad name=secret-1", "SUB=secret\r1"])
def test_unreadable_cookie_values_are_refused_without_quoting_them(header):
    with pytest.raises(ValueError) as e:
        cookie_jar_entries(header)
    assert "secret" not in str(e.value) and "name=value" in str(e.value)


def test_platform_searches_default_to_institution_names():
    config = _config([{"name": "w", "type": "weibo"}],
                     institutions=[{"name": "锦程银行", "aliases": ["锦程"]}, {"name": "华岳保险"}])
    validate_sources(config)
    assert search_words(config, config.sources[0], "keywords") == ["锦程银行", "锦程", "华岳保险"]
    with pytest.raises(ConfigError, match="keywords: is required when no institutions"):
        validate_sources(_config([{"name": "w", "type": "weibo"}], institutions=[]))


def test_validation_imports_no_scrapy():
    code = "import sys, crawlers.sources, app.crawl; print(any(m.startswith('scrapy') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_clean_html_and_counts():
    html = "<p>A&amp;B</p><p>第二段<img alt=[怒] src=x.png></p><script>var x=1;</script>"
    assert clean_html(html) == "A&B\n第二段[怒]"
    assert [count(v) for v in ("12", "1.2万", "100万+", 7, None, "转发")] == [12, 12000, 1000000, 7, 0, 0]


@pytest.mark.parametrize("exception, reason, unreachable", [
    (CannotResolveHostError("x"), "cannot reach host tieba.example:8080: DNS lookup failed", True),
    (DownloadConnectionRefusedError(), "cannot reach host tieba.example:8080: connection refused", True),
    (IgnoreRequest("Forbidden by robots.txt"),
     "not fetched: http://tieba.example:8080/f?kw=x: Forbidden by robots.txt", False),
    (ValueError("odd"), "download of http://tieba.example:8080/f?kw=x failed: ValueError: odd", False),
])
def test_download_failures_are_described_for_people(exception, reason, unreachable):
    assert describe_failure(Request("http://tieba.example:8080/f?kw=x"), exception) == (reason, unreachable)


def test_the_ingest_pipeline_and_source_health_work_in_one_process(tmp_path: Path):
    """Components built by Scrapy's own get_crawler from a Services object (no file, no child
    process, no reactor): the pipeline ingests in batches off the event loop's thread, and the
    health extension writes the record `yuqing status` reads."""
    import asyncio

    from scrapy import signals
    from scrapy.utils.test import get_crawler

    from app.services import Services
    from crawlers.pipelines import IngestPipeline
    from crawlers.spiders.feed import FeedSpider
    from yuqing.model import Mention, Rejected

    config = from_mapping({"institutions": [{"name": "锦程银行", "exclude": ["锦程路"]}],
                           "sources": [{"name": "news", "type": "rss", "params": {"url": "http://127.0.0.1:1/f.xml"}}]},
                          "test.yaml", tmp_path, env={})
    with Services(config) as services:
        crawler = get_crawler(FeedSpider, {"YUQING_SERVICES": services, "INGEST_BATCH_SIZE": 2,
                                           "EXTENSIONS": {"crawlers.extensions.SourceHealth": 500}})
        spider = FeedSpider.from_crawler(crawler, source="news")
        crawler.spider = spider
        pipeline = IngestPipeline.from_crawler(crawler)
        items = [Mention(url=f"https://e.org/{i}", source="news", title=title, published_at=NOW)
                 for i, title in enumerate(["锦程银行网点关门", "锦程路堵车", "锦程银行又涨价"])]

        async def crawl() -> None:
            await pipeline.open_spider(spider)
            for item in [*items, Rejected("https://e.org/bad", "news", "unreadable date 'x'")]:
                pipeline.process_item(item)
            await pipeline.close_spider(spider)

        asyncio.run(crawl())
        crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
        assert services.store.get(items[0].id) and services.store.get(items[2].id)
        assert services.store.get(items[1].id) is None
        stats = crawler.stats.get_stats()
        assert (stats["yuqing/stored"], stats["yuqing/filtered"], stats["yuqing/rejected"]) == (2, 1, 1)
        health = services.data.read_health("news")
        assert health is not None and (health.stored, health.filtered, health.rejected) == (2, 1, 1)


@pytest.mark.parametrize(("body", "declared", "text"), [
    ("镕䶮".encode("gb18030"), "application/rss+xml; charset=gb2312", "镕䶮"),  # GB18030 under a gb2312 label
    ('<?xml version="1.0" encoding="gbk"?>镕'.encode("gbk"), "text/xml; charset=utf-8", "镕"),  # the header lies
    ("錦程銀行".encode("big5"), "application/xml; charset=x-x-big5", "錦程銀行"),
])
def test_feed_decoding_falls_back_along_the_charset_chain(body, declared, text):
    from crawlers.spiders.feed import decode_feed

    assert text in decode_feed(body, declared)[0]


def test_an_undecodable_feed_names_what_was_tried():
    from crawlers.spiders.feed import decode_feed

    with pytest.raises(ValueError, match="not readable as gb2312, gbk, gb18030, utf-8"):
        decode_feed(b"\x81\x30", "text/xml; charset=gb2312")


def _page(url: str, body: str, status: int = 200, content_type: str = "text/html; charset=utf-8"):
    from scrapy.http import HtmlResponse, TextResponse

    kind = TextResponse if "json" in content_type else HtmlResponse
    return kind(url, status=status, body=body.encode("utf-8"), headers={"Content-Type": content_type},
                encoding="utf-8")


@pytest.mark.parametrize(("response", "state"), [
    (_page("https://tieba.baidu.com/f?kw=x", "<html><head><title>百度安全验证</title></head></html>"), "blocked"),
    (_page("https://m.weibo.cn/api/container/getIndex", '{"ok":-100,"url":"https://passport.weibo.cn/signin/welcome"}',
           content_type="application/json"), "login-required"),
    (_page("https://passport.weibo.cn/signin/welcome?entry=mweibo", "<html></html>"), "login-required"),
    (_page("https://guba.eastmoney.com/list,600036.html", "forbidden", status=403), "blocked"),
    (_page("https://m.weibo.cn/api/container/getIndex", "", status=432), "login-required"),
    # Post text may well talk about 验证码 (an SMS code) or logging in: only the title can make a wall.
    (_page("https://tieba.baidu.com/p/1", "<html><head><title>锦程银行_百度贴吧</title></head><body>"
           "银行发来的验证码我没给任何人，登录后钱就没了</body></html>"), None),
    (_page("https://tieba.baidu.com/p/2", "<title>收不到验证码怎么办【锦程银行吧】_百度贴吧</title>"), None),
    (_page("https://tieba.baidu.com/p/3", "<title>登录锦程银行App闪退【锦程银行吧】_百度贴吧</title>"), None),
    (_page("https://news.example.com/login-security-tips.html", "<title>网银登录安全提示</title>"), None),
    (_page("https://passport.example.com/login?r=x", "<title>登录 - 某网</title>"), "login-required"),
    (_page("https://x.example/", "<title>Just a moment...</title>"), "blocked"),
    (_page("https://m.weibo.cn/api/container/getIndex", '{"ok":0,"msg":"这里还没有内容"}',
           content_type="application/json"), None),
    (_page("https://x.example/news/1", "gone", status=404), None),
])
def test_walls_are_told_from_answers(response, state):
    from crawlers.walls import recognise

    wall = recognise(response)
    assert (wall.state if wall else None) == state


def test_the_state_of_a_crawl():
    from crawlers.walls import Verdict, decide_state

    lost = Verdict("", "HTTP 404 from http://a/p/2", "http://a/p/2")
    wall = Verdict("blocked", "Baidu security verification page (百度安全验证)", "http://a/f")
    empty = Verdict("degraded", "guba board 1 lists no posts", "http://a/list,1.html")
    assert decide_state([], [], scraped=3, rejected=0) == Verdict("ok")
    assert decide_state([], [lost], scraped=3, rejected=0) == Verdict("degraded", lost.reason, lost.url)
    assert decide_state([], [lost], scraped=0, rejected=0).state == "failing"
    assert decide_state([empty, wall], [lost], scraped=0, rejected=0) == wall  # a wall says why nothing came
    # Posts came in, though some pages were behind the wall: degraded, naming the wall.
    assert decide_state([empty, wall], [lost], scraped=3, rejected=0) == Verdict("degraded", wall.reason, wall.url)
    assert decide_state([empty], [], scraped=0, rejected=0) == Verdict("failing", empty.reason, empty.url)
    assert decide_state([], [], scraped=2, rejected=2).state == "failing"
