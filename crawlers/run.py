"""Crawl sources in this process: `crawl_sources(services, sources, settings)` runs one Scrapy
crawler per source under one reactor and returns one `HealthRecord` per source.

The reactor cannot restart inside a process, so the application layer calls this once per process
(`app.crawl`, the crawl child); a test can call it with Scrapy's own settings and its own services.
"""
from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from types import FrameType
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.ossignal import install_shutdown_handlers, signal_names
from twisted.python.failure import Failure

from crawlers import settings as project_settings
from crawlers.context import CrawlServices, services_from_settings
from crawlers.distributed import redis_settings, unreachable
from crawlers.extensions import SourceHealth
from crawlers.sources import spider_class
from yuqing.config import SourceConfig
from yuqing.datadir import DataDir, HealthRecord, Held, PidLock

log = logging.getLogger("crawlers.run")

_running: CrawlerProcess | None = None  # this process's crawl, for `stop_crawls`


def stop_crawls() -> bool:
    """Close every spider of this process's crawl, as Scrapy does on a first SIGTERM: what the crawl
    holds is stored and each source's health record written. Safe in a signal handler. False when
    no crawl runs yet."""
    if _running is None:
        return False
    from twisted.internet import reactor

    reactor.callFromThread(_close, _running)
    return True


def _close(process: CrawlerProcess) -> None:
    log.warning("the parent process is gone: closing the spiders")
    # Scrapy's own SIGTERM handler would now stop the reactor at once (its crawlers are already
    # stopping), before the spiders have closed: a SIGTERM that follows (one did, of unknown origin,
    # after a `kill -9` of the parent in one CI run in many) must not lose the health records.
    install_shutdown_handlers(_already_closing)
    process.stop()


def _already_closing(signum: int, frame: FrameType | None) -> None:
    from twisted.internet import reactor

    install_shutdown_handlers(_force_stop)
    reactor.callFromThread(log.warning, "received %s: the spiders are already closing; send it again to force "
                           "an unclean shutdown", signal_names[signum])


def _force_stop(signum: int, frame: FrameType | None) -> None:
    from twisted.internet import reactor

    install_shutdown_handlers(signal.SIG_IGN)
    reactor.callFromThread(log.warning, "received %s twice, forcing unclean shutdown", signal_names[signum])
    reactor.callFromThread(_stop_reactor)


def _stop_reactor() -> None:
    from twisted.internet import reactor

    try:
        reactor.stop()  # type: ignore[misc]  # mypy reads the interface's self-less `stop` as unbound
    except RuntimeError:  # already stopping
        pass


def crawl_settings(services: CrawlServices, overrides: dict[str, Any] | None = None) -> Settings:
    """The project's Scrapy settings with this process's services and the caller's overrides."""
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.set("YUQING_SERVICES", services, priority="cmdline")
    for key, value in redis_settings(services.config).items():
        settings.set(key, value, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def _failed_report(source: SourceConfig, error: str) -> HealthRecord:
    return HealthRecord(source.name, source.type, state="failing", state_reason=error, errors=[error])


def _lock(source: SourceConfig, data: DataDir) -> PidLock | HealthRecord:
    """The source's crawl lock, or (when another process holds it) the report of a crawl not run."""
    lock = PidLock(data.crawl_lock(source.name))
    try:
        lock.acquire()
    except Held as e:
        return HealthRecord(source.name, source.type, errors=[
            f"not crawled: pid {e.pid} is still crawling {source.name} ({e.path}); it runs again next time"])
    return lock


def crawl_sources(sources: Sequence[SourceConfig], settings: Settings) -> list[HealthRecord]:
    """Crawl `sources` (their spiders together, under one reactor) and report on each. A source
    another process is crawling (an earlier crawl still closing) is reported as not crawled."""
    data = services_from_settings(settings).data
    locks: dict[str, PidLock] = {}
    skipped: dict[str, HealthRecord] = {}
    for source in sources:
        held = _lock(source, data)
        if isinstance(held, HealthRecord):
            skipped[source.name] = held
        else:
            locks[source.name] = held
    try:
        crawled = _crawl([s for s in sources if s.name in locks], settings)
    finally:
        for lock in locks.values():
            lock.release()
    return [skipped.get(s.name) or crawled[s.name] for s in sources]


def _crawl(sources: Sequence[SourceConfig], settings: Settings) -> dict[str, HealthRecord]:
    if not sources:
        return {}
    if problem := unreachable(settings):
        log.error("%s", problem)
        return {s.name: _failed_report(s, problem) for s in sources}
    process = CrawlerProcess(settings)
    started: list[tuple[SourceConfig, Crawler]] = []
    start_errors: dict[str, str] = {}
    for source in sources:
        crawler = process.create_crawler(spider_class(source.type))
        started.append((source, crawler))

        def failed(failure: Failure, name: str = source.name) -> None:
            start_errors[name] = f"crawl failed: {type(failure.value).__name__}: {failure.value}"
            log.error("source %s: %s", name, start_errors[name], exc_info=failure.value)

        process.crawl(crawler, source=source).addErrback(failed)
    global _running
    _running = process
    try:
        process.start()
    finally:
        _running = None
    reports = {}
    for source, crawler in started:
        health = next((m for m in (crawler.extensions.middlewares if crawler.extensions else ())
                       if isinstance(m, SourceHealth)), None)
        report = health.report if health is not None else None
        if report is None or source.name in start_errors:
            report = _failed_report(source, start_errors.get(source.name, "the crawl did not finish"))
        reports[source.name] = report
    return reports
