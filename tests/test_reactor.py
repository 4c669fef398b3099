"""Nothing blocks the reactor: a store write that cannot finish until more pages have been
downloaded must not stop those downloads. The real engine, in a child process (a reactor runs
once per process), against feeds on 127.0.0.1; the store is a real SQLite store wrapped so that
its writes wait."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = r'''
import json, sys, threading
from pathlib import Path
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

from scrapy import signals

from app.demo.site import serve_local
from app.services import Services
from crawlers import settings as project
from crawlers.run import crawl_settings, crawl_sources
from yuqing.config import from_mapping
from yuqing.storage.sqlite import SqliteStore

data_dir = Path(sys.argv[1])
FEEDS = 6
GUARD = 240.0  # hang guard only: the right answer comes long before (a blocked reactor still fails, after it)
store_entered = threading.Event()
all_downloaded = threading.Event()
responses = []


def feed(n):
    when = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1))
    items = "".join(f"<item><title>锦程银行 第{n}号源 帖子{i}</title><link>http://example.org/{n}/{i}</link>"
                    f"<description>锦程银行网点排队很久。</description><pubDate>{when}</pubDate></item>"
                    for i in range(2))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{n}</title>{items}</channel></rss>'.encode()


def respond(path):
    n = int(path.strip("/").split(".")[0].removeprefix("feed"))
    if n == FEEDS - 1:
        store_entered.wait(GUARD)  # the last feed answers only once a write is under way
    return 200, "application/rss+xml; charset=utf-8", feed(n)


class SlowStore(SqliteStore):
    """Its first write waits until every feed has been downloaded, which needs a free reactor."""
    waited = None

    def index_many(self, mentions):
        if SlowStore.waited is None:
            store_entered.set()
            SlowStore.waited = all_downloaded.wait(GUARD)
        return super().index_many(mentions)


class Downloads:
    """An extension counting responses as the engine receives them, on the reactor thread."""

    @classmethod
    def from_crawler(cls, crawler):
        crawler.signals.connect(cls.received, signal=signals.response_received)
        return cls()

    @staticmethod
    def received(response, request, spider):
        responses.append(response.url)
        if len(responses) == FEEDS:
            all_downloaded.set()


server = serve_local(respond)
base = f"http://127.0.0.1:{server.server_address[1]}"
config = from_mapping({"institutions": [{"name": "锦程银行"}], "sources": [
    {"name": "feeds", "type": "rss", "params": {"urls": [f"{base}/feed{n}.xml" for n in range(FEEDS)]}}]},
    "probe.yaml", data_dir, env={})
services = Services(config, store=SlowStore(data_dir / "yuqing.db"))
settings = crawl_settings(services, {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
                                     "CONCURRENT_REQUESTS": 1, "INGEST_BATCH_SIZE": 1, "LOG_LEVEL": "WARNING",
                                     "EXTENSIONS": {**project.EXTENSIONS, "__main__.Downloads": 600}})


(report,) = crawl_sources(list(config.sources), settings)
print(json.dumps({"waited": SlowStore.waited, "responses": len(responses), "stored": report.stored,
                  "state": report.state}))
services.close()
server.shutdown()
'''


def test_a_slow_store_does_not_stall_downloads(tmp_path: Path):
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=root, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The write waited for the last feed and got it: the reactor kept downloading meanwhile.
    assert result == {"waited": True, "responses": 6, "stored": 12, "state": "ok"}
