"""The item pipeline: one step, the ingest path (`yuqing.ingest`: validate → analyse → relevance →
store, or spool when the store fails), the same one `yuqing import` uses.

Items are buffered and ingested in batches of INGEST_BATCH_SIZE, or when the oldest has waited
INGEST_BATCH_WAIT seconds, and at close. A batch runs on a worker thread, never on the reactor's:
analysis and store writes (an Elasticsearch 429 back-off can wait half a minute) must not stall
the downloads. One worker, so batches are stored in the order they were scraped.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

from scrapy import Spider
from scrapy.crawler import Crawler

from crawlers.context import services_from_settings
from crawlers.signals import stage_failed
from yuqing.ingest import IngestReport
from yuqing.model import Mention, Rejected

log = logging.getLogger(__name__)


class IngestPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.ingest = services_from_settings(crawler.settings).ingest
        self.batch_size = crawler.settings.getint("INGEST_BATCH_SIZE", 20)
        self.wait = crawler.settings.getfloat("INGEST_BATCH_WAIT", 2.0)
        self.buffer: list[Mention | Rejected] = []
        self.timer: asyncio.TimerHandle | None = None
        self.running: set[asyncio.Future[IngestReport]] = set()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yuqing-ingest")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def source(self) -> str:
        spider = self.crawler.spider
        return spider.name if spider is not None else "?"

    async def open_spider(self, spider: Spider) -> None:
        report = await asyncio.get_running_loop().run_in_executor(self.worker, self.ingest.replay_spool, self.source)
        self._count(report)

    def process_item(self, item: Any) -> Any:
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.wait, self.flush)
        return item

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.buffer = self.buffer, []
        if not batch:
            return
        future = asyncio.get_running_loop().run_in_executor(self.worker, self.ingest.ingest, batch, self.source)
        self.running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[IngestReport]) -> None:
        self.running.discard(future)
        try:
            report = future.result()
        except Exception as e:  # noqa: BLE001 - a bug below must reach the source's report, not vanish
            log.exception("ingest failed")
            self._failed(f"ingest failed: {type(e).__name__}: {e}")
            return
        self._count(report)

    def _count(self, report: IngestReport) -> None:
        stats = self.crawler.stats
        assert stats is not None
        for key, n in (("stored", report.stored), ("created", report.index.created), ("rejected", report.rejected),
                       ("filtered", report.filtered), ("spooled", report.spooled), ("replayed", report.replayed),
                       ("analysed", report.analysed), ("truncated", report.truncated),
                       ("analyse_failed", report.analyse_failed), ("group_failed", report.group_failed),
                       ("store_failed", len(report.index.failed))):
            if n:
                stats.inc_value(f"yuqing/{key}", n)
        for problem in report.problems:
            self._failed(problem)

    def _failed(self, reason: str) -> None:
        log.error("%s", reason)
        self.crawler.signals.send_catch_log(stage_failed, reason=reason)

    async def close_spider(self, spider: Spider) -> None:
        self.flush()
        while self.running:  # every batch stored (or spooled) before the crawl reports
            await asyncio.gather(*self.running, return_exceptions=True)
        self.worker.shutdown(wait=True)
