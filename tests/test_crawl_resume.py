"""Resume (`crawlers.seen`): the real crawl child, killed with SIGKILL midway through the demo's
sample forum on 127.0.0.1, and started again: the pages whose posts it had stored are not fetched
again, and in the end every post is stored once."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from app.crawl import LOCAL_SITE_SETTINGS
from app.demo.site import DemoSite, demo_config
from tests.conftest import crawl
from tests.test_crawl import stored
from yuqing.datadir import DataDir


class SlowForum(DemoSite):
    """The demo site, recording every path asked for; a post page takes a moment, so a crawl is
    still running when the test kills it (a pace, never a bound on how long anything takes)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def respond(self, path: str) -> tuple[int, str, bytes]:
        self.asked.append(path)
        if path.startswith("/bbs/post/"):
            time.sleep(0.5)
        return super().respond(path)


@pytest.fixture
def forum(tmp_path):
    site = SlowForum()
    base = site.start()
    config = demo_config(base)
    config["sources"] = [s for s in config["sources"] if s["name"] == "demo-forum"]
    path = tmp_path / "yuqing.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    yield site, str(path)
    site.stop()


def seen_pages(data_dir: Path) -> set[str]:
    path = DataDir(data_dir).seen_db
    if not path.exists():
        return set()
    db = sqlite3.connect(path, timeout=60)
    try:
        return {url for (url,) in db.execute("SELECT url FROM seen WHERE source = 'demo-forum'")}
    except sqlite3.OperationalError:  # the child has not made the table yet
        return set()
    finally:
        db.close()


SETTINGS = {**LOCAL_SITE_SETTINGS, "CONCURRENT_REQUESTS": 2, "INGEST_BATCH_SIZE": 1, "INGEST_BATCH_WAIT": 0.1}


def test_a_crawl_killed_midway_resumes_without_fetching_stored_pages_again(forum, tmp_path):
    site, config = forum
    command = [sys.executable, "-m", "app.crawl", "--config", config, "--data-dir", str(tmp_path),
               *(f"--set={k}={json.dumps(v)}" for k, v in SETTINGS.items())]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    posts = [p for p in site.posts if p.channel == "html"]
    try:
        deadline = time.monotonic() + 300  # a hang guard only
        while len(seen_pages(tmp_path)) < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        child.kill()  # SIGKILL: no close, no flush, nothing written on the way out
        child.wait(timeout=60)
    done = seen_pages(tmp_path)
    before = stored(tmp_path)
    asked_before = len(site.asked)
    assert 3 <= len(done) < len(posts), "the crawl was not stopped midway"

    (report,) = crawl(config, str(tmp_path), timeout=60, settings=SETTINGS)
    asked_again = {f"{site.base_url}{p}" for p in site.asked[asked_before:] if p.startswith("/bbs/post/")}
    assert not asked_again & done  # no stored page fetched again
    assert asked_again == {f"{site.base_url}/bbs/post/{p.number}.html" for p in posts} - done  # the rest, all of them
    assert report.skipped == len(done) and "already stored not fetched again" in report.summary()
    after = stored(tmp_path)
    # The same as one crawl that was never interrupted: nothing lost, nothing twice (one id per post).
    reference = tmp_path / "reference"
    crawl(config, str(reference), timeout=60, settings=SETTINGS)
    assert set(after) == set(stored(reference)) and set(before) <= set(after)
    # A page went in the seen-set only once its post was through the ingest path: stored, if about us.
    assert done & {m.url for m in after.values()} <= {m.url for m in before.values()}
    assert {m.id: m.title for m in after.values()} == {m.id: m.title for m in stored(reference).values()}


def post_pages(site: SlowForum) -> int:
    return sum(p.startswith("/bbs/post/") for p in site.asked)


def test_a_page_is_fetched_again_once_the_window_has_passed(forum, tmp_path):
    site, config = forum
    (first,) = crawl(config, str(tmp_path), timeout=60, settings=SETTINGS)
    fetched = post_pages(site)
    (again,) = crawl(config, str(tmp_path), timeout=60, settings=SETTINGS)
    assert post_pages(site) == fetched and again.skipped == fetched  # the list pages read, no post page
    assert (again.state, again.stored) == ("ok", 0)
    # A window of 0.1 s: by the next crawl every page has been seen longer ago than that.
    (late,) = crawl(config, str(tmp_path), timeout=60, settings={**SETTINGS, "YUQING_SEEN_DAYS": 0.1 / 86400})
    assert post_pages(site) == 2 * fetched and late.skipped == 0 and late.stored == first.stored
