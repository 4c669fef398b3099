"""Bounded fuzz tests (Hypothesis; bounded in examples, never in wall-clock): the import input and
the feed parser take anything without a traceback, every problem is one clear line, and the good
line next to the hostile one is always stored. (Query parsing and `analyze` are fuzzed on the
hardening branch.)"""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from app.services import Services
from crawlers.spiders.base import SourceError
from crawlers.spiders.feed import FeedSpider
from tests.conftest import SHANGHAI
from yuqing.config import from_mapping
from yuqing.importer import import_jsonl
from yuqing.model import Mention, Rejected, clean_text

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                   derandomize=True)
# Text as hostile posters write it: any code point, lone surrogates and controls included.
HOSTILE = st.text(st.characters(codec=None, categories=None), max_size=200)
GOOD = {"title": "锦程银行暴力催收", "published_at": "2026-11-30T10:00:00+08:00", "source": "x"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Services.load(None, tmp_path_factory.mktemp("data"), env={}) as s:
        yield s


@given(text=HOSTILE)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_cleaned_text_holds_no_control_character_and_encodes(text):
    cleaned = clean_text(text)
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in cleaned)
    cleaned.encode("utf-8")  # no lone surrogate left


fields = st.fixed_dictionaries({}, optional={
    "url": st.one_of(HOSTILE, st.sampled_from(["javascript:x", "http://", "data:,x"])),
    "title": HOSTILE, "content": HOSTILE, "source": HOSTILE, "author": HOSTILE,
    "published_at": st.one_of(HOSTILE, st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00"])),
    "platform": HOSTILE, "platform_id": st.one_of(HOSTILE, st.integers()), "extra": st.none()})
hostile_line = st.one_of(
    fields.map(lambda d: json.dumps(d, ensure_ascii=True).encode("ascii")),  # lone surrogates as JSON escapes
    st.binary(max_size=300).filter(lambda b: b"\n" not in b and b"\r" not in b),
    HOSTILE.map(lambda t: t.replace("\n", " ").replace("\r", " ").encode("utf-8", "surrogatepass")))


@BOUNDED
@given(line=hostile_line, n=st.integers(0, 10**9))
def test_import_takes_any_line_and_keeps_the_good_one(services, tmp_path, line, n):
    good_url = f"http://fuzz.example/{n}"
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(line + b"\n" + json.dumps({**GOOD, "url": good_url}).encode() + b"\n")
    report = import_jsonl(path, services.ingest, SHANGHAI)
    assert report.stored >= 1 and not report.stopped and not report.ingest.problems
    assert all(number in (1, 2) and reason and "\n" not in reason for number, reason in report.bad_lines)
    assert 2 not in [number for number, _ in report.bad_lines]  # the good line was never the bad one
    assert services.store.get(Mention(url=good_url, source="x").id) is not None


@pytest.fixture(scope="module")
def feed_spider(tmp_path_factory: pytest.TempPathFactory) -> Any:
    config = from_mapping({"sources": [{"name": "news", "type": "rss", "params": {"url": "http://127.0.0.1:1/f.xml"}}]},
                          "test.yaml", tmp_path_factory.mktemp("feed"), env={})
    with Services(config) as services:
        crawler = get_crawler(FeedSpider, {"YUQING_SERVICES": services})
        spider = FeedSpider.from_crawler(crawler, source="news")
        crawler.spider = spider
        yield spider


def feed(title: str, body: bytes, link: str) -> bytes:
    return (b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>f</title>"
            b"<item><title>" + title.encode("utf-8", "surrogatepass") + b"</title><link>" +
            link.encode("utf-8", "surrogatepass") + b"</link><description>" + body + b"</description>"
            b"<pubDate>Mon, 30 Nov 2026 10:00:00 +0800</pubDate></item>"
            b"<item><title>good</title><link>http://f.example/good</link><description>ok</description>"
            b"<pubDate>Mon, 30 Nov 2026 10:00:00 +0800</pubDate></item></channel></rss>")


@BOUNDED
@given(title=HOSTILE, body=st.binary(max_size=300), link=HOSTILE)
def test_the_feed_parser_takes_any_item_without_a_traceback(feed_spider, title, body, link):
    url = "http://f.example/feed.xml"
    response = TextResponse(url, body=feed(title, body, link), request=Request(url),
                            headers={"Content-Type": "application/rss+xml"})
    try:
        items = list(feed_spider.parse(response))
    except SourceError as e:  # a feed that cannot be read at all: one line naming it
        assert url in str(e) and "\n" not in str(e)
        return
    assert all(isinstance(i, (Mention, Rejected)) for i in items)
    assert "http://f.example/good" in [i.url for i in items if isinstance(i, Mention)]

