"""Source health: per-source figures of each crawl, as the one `yuqing.datadir.HealthRecord`,
written to DATA_DIR/health/SOURCE.json (read by `yuqing status`) and kept on the extension for
`crawlers.run` to report. Hooks in through signals only; the state is decided by
`crawlers.walls.decide_state` from the walls, empty list pages and errors seen."""
from __future__ import annotations

from datetime import datetime

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.context import services_from_settings
from crawlers.limits import limit_reached
from crawlers.signals import download_failed, source_problem, source_state, stage_failed
from crawlers.walls import DEGRADED, Verdict, decide_state
from yuqing.datadir import HealthRecord

MAX_ERRORS = 20  # per crawl, so one broken site cannot fill the report


class SourceHealth:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        services = services_from_settings(crawler.settings)
        self.config, self.data = services.config, services.data
        self.errors: list[str] = []
        self.problems: list[Verdict] = []  # the errors, with the URL each is about
        self.marks: list[Verdict] = []  # walls and empty list pages (source_state signals)
        self.ok_responses = 0
        self.unreachable = 0
        self.http_errors = 0  # final responses only: retried attempts are not counted
        self.report: HealthRecord | None = None
        for handler, signal in ((self.response_received, signals.response_received),
                                (self.spider_error, signals.spider_error),
                                (self.spider_closed, signals.spider_closed),
                                (self.download_failed, download_failed),
                                (self.problem, stage_failed),
                                (self.problem, source_problem),
                                (self.state_seen, source_state)):
            crawler.signals.connect(handler, signal=signal)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceHealth:
        return cls(crawler)

    def _note(self, text: str) -> bool:
        if text in self.errors or len(self.errors) >= MAX_ERRORS:
            return False
        self.errors.append(text)
        return True

    def _error(self, text: str, url: str = "") -> None:
        if self._note(text):
            self.problems.append(Verdict("", text, url))

    def state_seen(self, state: str, reason: str, url: str) -> None:
        if self._note(f"{reason} ({url})" if url else reason):
            self.marks.append(Verdict(state, reason, url))

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        if response.url.endswith("/robots.txt"):
            return
        if response.status >= 400:
            self.http_errors += 1
            self._error(f"HTTP {response.status} from {response.url}", response.url)
        else:
            self.ok_responses += 1

    def download_failed(self, request: Request, reason: str, unreachable: bool) -> None:
        self.unreachable += unreachable
        self._error(reason, request.url)

    def problem(self, reason: str) -> None:
        self._error(reason)

    def spider_error(self, failure: Failure, response: Response, spider: Spider) -> None:
        from crawlers.spiders.base import SourceError

        if isinstance(failure.value, SourceError):
            self._error(str(failure.value), response.url)
        else:
            self._error(f"error reading {response.url}: {type(failure.value).__name__}: {failure.value}",
                        response.url)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats
        assert stats is not None

        def stat(key: str) -> int:
            return int(stats.get_value(key, 0) or 0)

        now = datetime.now(self.config.tz).isoformat()
        reachable = self.ok_responses > 0 or not self.unreachable
        scraped = stat("item_scraped_count") + stat("item_dropped_count")
        if limit := limit_reached(self.crawler, reason):
            self.state_seen(DEGRADED, limit, "")
        verdict = decide_state(self.marks, self.problems, scraped=scraped, rejected=stat("yuqing/rejected"))
        previous = self.data.read_health(spider.name)
        self.report = HealthRecord(
            name=spider.name, type=getattr(spider, "source_type", ""), state=verdict.state,
            state_reason=verdict.reason, state_url=verdict.url, scraped=scraped, stored=stat("yuqing/stored"),
            created=stat("yuqing/created"), filtered=stat("yuqing/filtered"), rejected=stat("yuqing/rejected"),
            spooled=stat("yuqing/spooled"), replayed=stat("yuqing/replayed"), skipped=stat("yuqing/seen_skipped"),
            http_errors=self.http_errors,
            connection_failures=self.unreachable, errors=self.errors, reachable=reachable, finish_reason=reason,
            finished_at=now,
            last_success=now if reachable and self.ok_responses else (previous.last_success if previous else None))
        self.data.write_health(self.report)
