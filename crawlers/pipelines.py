"""Item pipeline: validate → relevance → analyse → store (order in settings.ITEM_PIPELINES).

Nothing is dropped silently: an invalid item goes to DATA_DIR/rejects/, an irrelevant one is
counted, a batch the store refuses goes to the spool and is replayed at the next crawl's start.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, NoReturn, Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from crawlers.context import analyzer_from_settings, config_from_settings
from crawlers.items import Rejected
from crawlers.relevance import RelevanceFilter
from crawlers.signals import stage_failed
from crawlers.spool import RejectLog, Spool
from yuqing.config import Config
from yuqing.model import Mention
from yuqing.storage import Store, open_store

log = logging.getLogger(__name__)

# A publication date further ahead than this is a misread date, not a post from the future.
FUTURE_TOLERANCE = timedelta(days=1)


class _Stage:
    """Shared plumbing: the config, stats under `yuqing/...`, and reporting a failure to the health
    extension."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config: Config = config_from_settings(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def count(self, key: str, n: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"yuqing/{key}", n)

    def failed(self, reason: str) -> None:
        log.error(reason)
        self.crawler.signals.send_catch_log(stage_failed, reason=reason)

    @property
    def source(self) -> str:
        spider = self.crawler.spider
        return spider.name if spider is not None else "?"


def mention_problem(m: Mention, now: datetime) -> str | None:
    """Why a Mention cannot be stored, or None when it can."""
    if not m.url.startswith(("http://", "https://")):
        return f"url {m.url!r} is not an http(s) URL"
    if not m.source:
        return "no source"
    if not m.text.strip():
        return "no text (empty title and content)"
    if m.published_at is None:
        return "no publication date"
    if m.published_at > now + FUTURE_TOLERANCE:
        return f"publication date {m.published_at.isoformat()} is in the future (misread date?)"
    return None


class ValidatePipeline(_Stage):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.rejects = RejectLog(self.config.data_dir, self.config.tz)


    def process_item(self, item: Any) -> Mention:
        if isinstance(item, Rejected):
            self._reject(item.url, item.reason, item.data)
        if not isinstance(item, Mention):
            self._reject("", f"unexpected item type {type(item).__name__}", {"item": repr(item)})
        problem = mention_problem(item, datetime.now(self.config.tz))
        if problem:
            self._reject(item.url, problem, item.to_dict())
        return item

    def _reject(self, url: str, reason: str, data: dict[str, Any]) -> NoReturn:
        path = self.rejects.write(url, self.source, "validate", reason, data)
        self.count("rejected")
        raise DropItem(f"rejected {url or '(no url)'}: {reason} (kept in {path})")


class RelevancePipeline(_Stage):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.filter = RelevanceFilter(self.config.institutions)
        if not self.filter.active:
            raise NotConfigured("no institutions configured: every item is relevant")
        self.watched = {i.name for i in self.config.institutions}


    def process_item(self, item: Mention) -> Mention:
        # A spider may already know (a Guba board is about its company); trust it for watched names.
        known = [name for name in item.institutions if name in self.watched]
        if not (known or self.filter.matches(item.text)):
            self.count("filtered")
            raise DropItem(f"not about a watched institution: {item.url}", log_level="DEBUG")
        return item


class AnalysePipeline(_Stage):
    """Runs `nlp.Analyzer.analyze_mentions` on batches: each item waits (at most ANALYSE_BATCH_WAIT
    seconds) for ANALYSE_BATCH_SIZE others, then the batch is analysed at once."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        if not crawler.settings.getbool("ANALYSE_ENABLED", True):
            raise NotConfigured("ANALYSE_ENABLED is off")
        self.analyzer = analyzer_from_settings(crawler.settings)
        self.batch_size = crawler.settings.getint("ANALYSE_BATCH_SIZE", 32)
        self.wait = crawler.settings.getfloat("ANALYSE_BATCH_WAIT", 0.5)
        self.pending: list[tuple[Mention, asyncio.Future[Mention]]] = []
        self.timer: asyncio.TimerHandle | None = None


    async def process_item(self, item: Mention) -> Mention:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Mention] = loop.create_future()
        self.pending.append((item, done))
        if len(self.pending) >= self.batch_size:
            self._run_batch()
        elif self.timer is None:
            self.timer = loop.call_later(self.wait, self._run_batch)
        return await done

    def _run_batch(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        mentions = [m for m, _ in batch]
        try:
            # keeps institutions the spider knew from context (a Guba board is about its company
            # even when a post never names it) and adds those named in the text
            self.analyzer.analyze_mentions(mentions)
            self.count("analysed", len(mentions))
        except Exception as e:  # another stage's code: keep the posts, store them unanalysed
            log.exception("analysis failed")
            self.count("analyse_failed", len(mentions))
            self.failed(f"analysis failed for {len(mentions)} items ({type(e).__name__}: {e}); "
                        "stored without sentiment")
        for m, done in batch:
            if not done.done():
                done.set_result(m)


class StorePipeline(_Stage):
    """Buffers mentions and writes them with `index_many` every STORE_BATCH_SIZE items, when the
    oldest has waited STORE_BATCH_WAIT seconds, and at the end, so a crash loses at most a few
    seconds of posts (and the next crawl finds them again). If the store cannot be opened or a write
    fails, the batch goes to the spool instead (and the rest of this crawl too: a store that just
    failed is not retried per batch)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.batch_size = crawler.settings.getint("STORE_BATCH_SIZE", 20)
        self.wait = crawler.settings.getfloat("STORE_BATCH_WAIT", 2.0)
        self.timer: asyncio.TimerHandle | None = None
        self.spool = Spool(self.config.data_dir)
        self.rejects = RejectLog(self.config.data_dir, self.config.tz)
        self.store: Store | None = None
        self.buffer: list[Mention] = []


    def open_spider(self) -> None:
        try:
            self.store = open_store(self.config)
        except Exception as e:  # noqa: BLE001 - whatever the backend raises, spool instead of losing posts
            self._store_down("cannot open", e)
            return
        self._replay_spool()

    def _replay_spool(self) -> None:
        assert self.store is not None
        try:
            report = self.spool.replay(self.store)
        except Exception as e:  # noqa: BLE001 - the spool stays for the next crawl
            self._store_down("cannot replay the spool into", e)
            return
        for where, problem, line in report.bad_lines:
            self.rejects.write("", self.source, "spool", f"unreadable spool line {where}: {problem}", {"line": line})
            self.count("rejected")
        self._report_failures(report.index.failed, {})
        if report.replayed:
            log.info("replayed %d spooled mentions from %d files into the store", report.replayed, report.files)
            self.count("replayed", report.replayed)

    def _store_down(self, action: str, error: Exception) -> None:
        self.store = None
        self.failed(f"store: {action} the {self.config.store.backend} store "
                    f"({type(error).__name__}: {error}); mentions spooled to {self.spool.dir}")

    def process_item(self, item: Mention) -> Mention:
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
        if self.store is not None:
            try:
                report = self.store.index_many(batch)
            except Exception as e:  # noqa: BLE001 - sqlite3 / ES / StoreError alike: nothing may be lost
                self._store_down("write failed in", e)
            else:
                self.count("stored", report.created + report.updated)
                self.count("created", report.created)
                self._report_failures(report.failed, {m.id: m for m in batch})
                return
        path = self.spool.write(batch, self.source)
        self.count("spooled", len(batch))
        log.warning("spooled %d mentions to %s", len(batch), path)

    def _report_failures(self, failed: list[tuple[str, str]], by_id: dict[str, Mention]) -> None:
        for mention_id, reason in failed:
            mention = by_id.get(mention_id)
            data = mention.to_dict() if mention else {"id": mention_id}
            self.rejects.write(mention.url if mention else "", self.source, "store", reason, data)
            self.count("store_failed")
        if failed:
            self.failed(f"store refused {len(failed)} mentions (first: {failed[0][1]}); kept in {self.rejects.dir}")

    def close_spider(self) -> None:
        self.flush()
        if self.store is not None:
            self.store.close()
