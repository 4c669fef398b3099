"""Distributed mode (`crawlers.distributed`, scrapy-redis): two real crawl children, each with its
own data dir as on two machines, share one frontier in a real `redis-server` on 127.0.0.1 and
write one store (a SQLite file, and the real Elasticsearch node); each page is fetched once."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from app.demo.site import demo_config
from app.settings import load
from tests.conftest import crawl, open_test_store
from tests.test_crawl_resume import SETTINGS, SlowForum
from yuqing.config import ConfigError
from yuqing.query import parse
from yuqing.storage import SearchRequest


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/system-deps installs it: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 60  # a hang guard only
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=60)


def config_file(folder: Path, base: str, store: dict[str, Any], redis_url: str | None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    config = demo_config(base)
    config["sources"] = [s for s in config["sources"] if s["name"] == "demo-forum"]
    config["store"] = store
    if redis_url:
        config["crawl"] = {"redis_url": redis_url}
    path = folder / "yuqing.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return str(path)


def store_config(backend: str, where: str) -> dict[str, Any]:
    if backend == "sqlite":
        return {"backend": "sqlite", "sqlite": {"path": where}}
    url, prefix = where.split(" ")
    return {"backend": "elasticsearch", "elasticsearch": {"url": url, "index_prefix": prefix}}


def ids(backend: str, where: str) -> set[str]:
    store = open_test_store(backend, where, refresh=True)
    try:
        return {h.mention.id for h in store.search(SearchRequest(query=parse(""), limit=1000)).hits}
    finally:
        store.close()


def test_two_crawlers_share_one_frontier_and_fetch_each_page_once(redis_url, store, store_location, tmp_path):
    backend, where = store_location
    site = SlowForum()
    base = site.start()
    try:
        children = []
        for n in (1, 2):
            data = tmp_path / f"machine-{n}"
            config = config_file(data, base, store_config(backend, where), redis_url)
            children.append(subprocess.Popen(
                [sys.executable, "-m", "app.crawl", "--config", config, "--data-dir", str(data),
                 *(f"--set={k}={json.dumps(v)}" for k, v in SETTINGS.items())],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        outputs = [c.communicate(timeout=600)[0] for c in children]
        assert [c.returncode for c in children] == [0, 0], outputs
        shared = list(site.asked)
        # The same crawl by one process alone, into a store of its own: what the two must add up to.
        reference = tmp_path / "alone"
        (alone,) = crawl(config_file(reference, base, store_config("sqlite", str(reference / "alone.db")), None),
                         str(reference), timeout=60, settings=SETTINGS)
    finally:
        site.stop()
    reports = [json.loads(out.splitlines()[-1])["sources"][0] for out in outputs]
    posts = [p for p in shared if p.startswith("/bbs/post/")]
    assert Counter(posts).most_common(1)[0][1] == 1  # no page fetched by both
    assert len(posts) == len([p for p in site.posts if p.channel == "html"])
    assert all(r["scraped"] > 0 for r in reports), reports  # both did part of the work
    assert sum(r["stored"] for r in reports) == alone.stored
    assert ids(backend, where) == ids("sqlite", str(reference / "alone.db"))
    assert not redis.Redis.from_url(redis_url).keys("yuqing:demo-forum:*")  # the round cleared its keys


def test_a_new_round_reads_the_list_pages_again(redis_url, tmp_path):
    site = SlowForum()
    base = site.start()
    try:
        config = config_file(tmp_path, base, store_config("sqlite", str(tmp_path / "one.db")), redis_url)
        (first,) = crawl(config, str(tmp_path), timeout=60, settings={**SETTINGS, "YUQING_SEEN_DAYS": 0})
        (second,) = crawl(config, str(tmp_path), timeout=60, settings={**SETTINGS, "YUQING_SEEN_DAYS": 0})
    finally:
        site.stop()
    lists = Counter(p for p in site.asked if p.startswith("/bbs/list"))
    assert set(lists.values()) == {2} and len(lists) == 3  # every list page, once per round
    assert first.stored == second.stored > 0


@pytest.mark.parametrize("value", ["http://127.0.0.1:6379", "redis://", "127.0.0.1:6379", 6379])
def test_a_bad_redis_url_is_refused_naming_the_key(tmp_path, value):
    (tmp_path / "yuqing.yaml").write_text(yaml.safe_dump({"crawl": {"redis_url": value}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"crawl\.redis_url: must be a Redis URL"):
        load(tmp_path / "yuqing.yaml", tmp_path, env={})


def test_the_redis_password_is_never_echoed(tmp_path):
    (tmp_path / "yuqing.yaml").write_text(yaml.safe_dump({"crawl": {"redis_url": "http://:s3cret@host:6379"}}),
                                          encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(tmp_path / "yuqing.yaml", tmp_path, env={})
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"crawl\.colour: unknown key"):
        (tmp_path / "yuqing.yaml").write_text("crawl: {colour: red}\n", encoding="utf-8")
        load(tmp_path / "yuqing.yaml", tmp_path, env={})


def test_an_unreachable_redis_is_reported_not_raised(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = config_file(tmp_path, "http://127.0.0.1:1", store_config("sqlite", str(tmp_path / "one.db")),
                         f"redis://127.0.0.1:{port}/0")
    (report,) = crawl(config, str(tmp_path), timeout=60, settings=SETTINGS)
    assert report.state == "failing" and f"127.0.0.1:{port}" in report.state_reason, report
