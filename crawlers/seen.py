"""Resume: a page whose post is already stored is not fetched again, so a crawl killed midway (kill -9,
a power cut) and started again goes on where it was and loses nothing.

The seen-set is per source, in `DATA_DIR/seen.db` (SQLite): the canonical URLs of the pages each
mention was read from. A URL goes in only once its mention has been through the ingest path (stored,
spooled, or filtered as about no watched institution: a durable answer), never when the page was
merely fetched or its items are still waiting in the pipeline's buffer; so whatever a killed crawl
had not yet stored is fetched again, and an upsert of a page read twice changes nothing. Only pages
a mention was read from count (a post page, an article), never list pages or feeds, which change and
are always read; nor a post kept from its list entry because its page failed (that page is tried
again). After `YUQING_SEEN_DAYS` (default 7) a page is read again, to pick up edits and engagement.

`SeenPages` is a spider middleware: it drops the requests (start requests too) for seen pages before
they are queued, so no errback runs for them (an errback would store the list entry over the post),
and counts them in the `yuqing/seen_skipped` stat. The pipeline says what a batch did through the
`crawlers.signals.batch_ingested` signal, sent from its worker thread once the batch is ingested.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from crawlers.context import services_from_settings
from crawlers.signals import batch_ingested, source_problem
from yuqing.ingest import IngestReport
from yuqing.model import Mention, Rejected, canonical_url
from yuqing.storage.base import StoreError
from yuqing.storage.sqlite import connect, migrate

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE seen (
        source TEXT NOT NULL,
        url TEXT NOT NULL,
        seen_ts REAL NOT NULL,
        PRIMARY KEY (source, url)
    ) WITHOUT ROWID;
    CREATE INDEX seen_age ON seen (source, seen_ts);
    """,
)


class SeenSet:
    """The seen pages of one source in the SQLite file at `path`; safe across threads and processes."""

    BUSY_TIMEOUT = 60.0

    def __init__(self, path: Path, source: str, window: timedelta) -> None:
        self.path, self.source, self.window = path, source, window
        self._lock = threading.Lock()
        try:
            self._db = connect(path, self.BUSY_TIMEOUT)
            migrate(self._db, path, MIGRATIONS, "seen_version")
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the seen pages at {path}: {e}") from e

    def load(self, now: datetime) -> set[str]:
        """The URLs seen within the window; older ones are forgotten for good."""
        cutoff = (now - self.window).timestamp()
        with self._lock:
            self._db.execute("DELETE FROM seen WHERE source = ? AND seen_ts < ?", (self.source, cutoff))
            rows = self._db.execute("SELECT url FROM seen WHERE source = ?", (self.source,)).fetchall()
        return {url for (url,) in rows}

    def add(self, urls: Iterable[str], now: datetime) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
                                     ((self.source, url, now.timestamp()) for url in urls))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()


def handled(batch: Sequence[Mention | Rejected], report: IngestReport) -> list[Mention]:
    """The mentions of `batch` the ingest path is done with (stored, spooled or filtered): not
    rejected, not refused by the store."""
    refused = {mention_id for mention_id, _ in report.index.failed}
    rejected = {where for where, _ in report.rejects}
    return [m for m in batch if isinstance(m, Mention) and m.id not in refused and m.url not in rejected]


class SeenPages:
    def __init__(self, crawler: Crawler, window: timedelta) -> None:
        self.crawler, self.window = crawler, window
        self.seen: set[str] = set()
        self.store: SeenSet | None = None
        # mention id → the canonical URL of the page it was read from, until its batch is ingested
        self.read_from: dict[str, str] = {}
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)
        crawler.signals.connect(self.ingested, signal=batch_ingested)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        days = crawler.settings.getfloat("YUQING_SEEN_DAYS")
        if days <= 0:
            raise NotConfigured("YUQING_SEEN_DAYS is 0: every page is fetched on every crawl")
        return cls(crawler, timedelta(days=days))

    def opened(self, spider: Spider) -> None:
        path = services_from_settings(self.crawler.settings).data.seen_db
        try:
            self.store = SeenSet(path, spider.name, self.window)
            self.seen = self.store.load(datetime.now(timezone.utc))
        except (StoreError, sqlite3.Error) as e:  # every page is fetched then: slower, nothing lost
            self.crawler.signals.send_catch_log(source_problem, reason=f"{e}; every page is fetched again")

    def closed(self, spider: Spider) -> None:
        if self.store is not None:
            self.store.close()

    def ingested(self, batch: Sequence[Mention | Rejected], report: IngestReport) -> None:
        urls = {self.read_from.pop(m.id) for m in handled(batch, report) if m.id in self.read_from}
        if urls and self.store is not None:
            self.store.add(urls, datetime.now(timezone.utc))
            self.seen.update(urls)

    def _admit(self, output: Any, response: Response | None) -> bool:
        if isinstance(output, Request):
            if canonical_url(output.url) in self.seen:
                assert self.crawler.stats is not None
                self.crawler.stats.inc_value("yuqing/seen_skipped")
                return False
        elif isinstance(output, Mention) and response is not None and 200 <= response.status < 300:
            page = canonical_url(response.url)
            if canonical_url(output.url) == page:
                self.read_from[output.id] = page
        return True

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in start:
            if self._admit(output, None):
                yield output

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        for output in result:
            if self._admit(output, response):
                yield output

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in result:
            if self._admit(output, response):
                yield output
