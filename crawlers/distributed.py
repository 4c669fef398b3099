"""Distributed mode: with `crawl.redis_url` set, every crawl process of a source, on any machine,
shares one request queue and one dupefilter in Redis (scrapy-redis), so N crawlers split one
frontier and fetch each URL once.

A *round* is the time during which at least one process crawls the source. Each process keeps a
key `yuqing:SOURCE:worker:ID` alive in Redis (a TTL of `WORKER_TTL` seconds, renewed every
`HEARTBEAT`), saying `busy` or `idle`. The first process of a round clears what an earlier round
left (so a list's second page is read again next round); a process whose queue runs dry stays open
while another one is still busy (it may queue more); the last one to close clears the round's keys.
A process killed outright stops renewing its key, and the others stop waiting for it after
`WORKER_TTL` seconds. The requests it had taken from the queue but not finished are lost to that
round, not to the next: the next round queues them again.

Several machines share a store that can be reached from all of them (Elasticsearch; a SQLite file
works for processes on one machine). Each machine keeps its own data dir (health, seen-set, spool).
"""
from __future__ import annotations

import uuid
from typing import Any, Self
from urllib.parse import urlsplit

import redis
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.settings import BaseSettings
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from yuqing.config import Config, ConfigError

WORKER_TTL = 60  # seconds a worker's key outlives its last heartbeat
HEARTBEAT = 15
KEYS = "yuqing:%(spider)s"
_SCHEMES = ("redis", "rediss", "unix")


def validate(config: Config) -> None:
    """The `crawl` section: only `redis_url`, a redis://, rediss:// or unix:// URL."""
    for key in config.crawl:
        if key != "redis_url":
            raise ConfigError(config.path, f"crawl.{key}", "unknown key (known: redis_url)")
    if "redis_url" in config.crawl:
        url = config.crawl["redis_url"]
        # The URL may hold a password: the error never echoes it.
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in _SCHEMES or not (parts.hostname if parts.scheme != "unix" else
                                                                 parts.path):
            raise ConfigError(config.path, "crawl.redis_url", "must be a Redis URL: redis://HOST:PORT/DB, "
                                                              "rediss://... (TLS) or unix:///path/to/redis.sock")


def redis_settings(config: Config) -> dict[str, Any]:
    """The Scrapy settings of distributed mode, or none when `crawl.redis_url` is not set."""
    url = config.crawl.get("redis_url")
    if not url:
        return {}
    return {
        "SCHEDULER": "crawlers.distributed.SharedScheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "REDIS_URL": url,
        "SCHEDULER_QUEUE_KEY": f"{KEYS}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{KEYS}:dupefilter",
        # The round decides when the keys go (SharedScheduler.close), not each process's close.
        "SCHEDULER_PERSIST": True,
    }


def unreachable(settings: BaseSettings) -> str | None:
    """Why the Redis of distributed mode cannot be used, or None (also when the mode is off).
    Asked before the crawl starts: a scheduler that cannot open leaves Scrapy with an error of
    its own that names nothing."""
    url = settings.get("REDIS_URL")
    if settings.get("SCHEDULER") != "crawlers.distributed.SharedScheduler" or not url:
        return None
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"  # no password
    try:
        redis.Redis.from_url(url, socket_connect_timeout=30).ping()
    except redis.RedisError as e:
        return f"cannot reach Redis at {where} (crawl.redis_url): {type(e).__name__}: {e}"
    return None


class SharedScheduler(Scheduler):
    """scrapy-redis's scheduler, with rounds: see the module's docstring."""

    crawler: Crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler: Self = super().from_crawler(crawler)
        scheduler.crawler = crawler
        return scheduler

    def open(self, spider: Spider) -> None:
        super().open(spider)
        prefix = KEYS % {"spider": spider.name}
        self.workers = f"{prefix}:worker:*"
        self.me = f"{prefix}:worker:{uuid.uuid4().hex}"
        self._state("busy")
        if not self._others():
            self.flush()  # a new round: what an earlier one left would filter this round's pages
        self.heartbeat = LoopingCall(self._renew)
        self.heartbeat.start(HEARTBEAT, now=False)
        self.crawler.signals.connect(self._idle, signal=signals.spider_idle)

    def _state(self, state: str) -> None:
        self.state = state
        self.server.set(self.me, state, ex=WORKER_TTL)

    def _renew(self) -> None:
        self.server.set(self.me, self.state, ex=WORKER_TTL)

    def _others(self) -> list[str]:
        """The states of the other live workers of this source."""
        # The connection answers bytes: scrapy-redis keeps pickled requests on it.
        keys = [k for k in self.server.scan_iter(match=self.workers) if k != self.me.encode()]
        return [v.decode() for v in self.server.mget(keys) if v is not None] if keys else []

    def next_request(self) -> Any:
        request = super().next_request()
        if request is not None and self.state != "busy":
            self._state("busy")
        return request

    def _idle(self, spider: Spider) -> None:
        self._state("idle")
        if len(self.queue) or "busy" in self._others():
            raise DontCloseSpider  # another worker may still queue pages; the engine asks again

    def close(self, reason: str) -> None:
        if self.heartbeat.running:
            self.heartbeat.stop()
        self.server.delete(self.me)
        if not self._others():
            self.flush()
        super().close(reason)
