"""The demo's sample site, crawled for real (runner → Scrapy child → analyser → SQLite)."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.crawl import LOCAL_SITE_SETTINGS
from app.demo.site import SITE_TZ, DemoSite, demo_config, forum_time
from crawlers.sources import validate_sources
from tests.conftest import crawl
from yuqing.config import from_mapping
from yuqing.query import parse
from yuqing.storage import SearchRequest
from yuqing.storage.sqlite import SqliteStore

NOW = datetime(2026, 11, 27, 15, 40, tzinfo=SITE_TZ)


@pytest.fixture(scope="module")
def demo_crawl(tmp_path_factory: pytest.TempPathFactory):
    site = DemoSite()
    base = site.start()
    data_dir = tmp_path_factory.mktemp("demo")
    config = data_dir / "yuqing.yaml"
    config.write_text(yaml.safe_dump(demo_config(base), allow_unicode=True), encoding="utf-8")
    try:
        reports = {r.name: r for r in crawl(str(config), str(data_dir), timeout=60, settings=LOCAL_SITE_SETTINGS)}
    finally:
        site.stop()
    store = SqliteStore(data_dir / "yuqing.db", tz=SITE_TZ)
    yield site, reports, store
    store.close()


def test_demo_config_is_valid(tmp_path: Path):
    validate_sources(from_mapping(demo_config("http://127.0.0.1:1"), "demo", tmp_path))


def test_every_relevant_sample_post_is_crawled_from_both_channels(demo_crawl):
    site, reports, store = demo_crawl
    assert all(r.errors == [] and r.reachable for r in reports.values())
    names = ("锦程银行", "锦程信用卡", "锦程消费金融", "华岳")
    relevant = [p for p in site.posts if any(n in p.title + p.content for n in names)]
    hits = store.search(SearchRequest(query=parse(""), limit=500)).hits
    assert len(hits) == len(relevant)
    assert sum(r.stored for r in reports.values()) == len(relevant)
    assert sum(r.filtered for r in reports.values()) == len(site.posts) - len(relevant)
    titles = {h.mention.title for h in hits}
    assert "锦程银行ATM吞卡了" in titles  # a GBK forum post
    assert "锦程路今天早高峰大堵车" not in titles  # 锦程路 is a street


def test_forum_dates_shown_relative_are_stored_as_the_real_times(demo_crawl):
    site, _, store = demo_crawl
    by_title = {h.mention.title: h.mention for h in store.search(SearchRequest(query=parse(""), limit=500)).hits}
    for post in site.posts:
        if post.title in by_title:
            assert abs(by_title[post.title].published_at - post.published) <= timedelta(minutes=1), post.title


def test_a_negative_burst_stands_out_of_a_quiet_baseline(demo_crawl):
    site, _, store = demo_crawl
    start = max(p.published for p in site.posts) + timedelta(minutes=1)
    hourly = store.count_by_interval(start - timedelta(days=14), start, 3600, institution="锦程银行")
    counts = [n for _, n in hourly]
    assert sum(counts[-3:]) >= 15
    assert max(counts[:-3]) <= 2
    # The analyser sees the burst as negative too: far more negatives than in any earlier 3 hours.
    negative = [n for _, n in store.count_by_interval(start - timedelta(days=14), start, 3 * 3600,
                                                      institution="锦程银行", polarity="negative")]
    assert negative[-1] >= 3 * max(1, *negative[:-1])


@pytest.mark.parametrize("age, shown", [
    (timedelta(minutes=25), "25分钟前"),
    (timedelta(hours=3), "今天 12:40"),
    (timedelta(hours=20), "昨天 19:40"),
    (timedelta(days=5), "2026-11-22 15:40"),
])
def test_forum_time_display(age: timedelta, shown: str):
    assert forum_time(NOW - age, NOW) == shown
