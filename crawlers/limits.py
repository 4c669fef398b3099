"""What one crawl of one source may take: bounded, and said when a bound is hit.

- `YUQING_MAX_LINKS_PER_PAGE` (spider middleware `LinksPerPage`): a page yielding more requests than
  this (a list page with 100,000 links) has only the first ones followed; the rest are never queued,
  so the scheduler's memory stays bounded. The source's health says which page and how many.
- `CLOSESPIDER_PAGECOUNT` (pages per crawl) and `CLOSESPIDER_TIMEOUT` (seconds per crawl), Scrapy's
  own: the spider closes, what it found is stored, and the health record says which limit stopped it.
- `DOWNLOAD_MAXSIZE`, Scrapy's: a bigger response (a 50 MB feed) is dropped as it arrives, never held
  whole; `crawlers.middlewares.describe_failure` names the limit in the health record.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from crawlers.signals import source_state
from crawlers.walls import DEGRADED

# Scrapy's finish reasons for its own limits → the setting that sets each, for the health record.
LIMIT_SETTINGS = {"closespider_timeout": "CLOSESPIDER_TIMEOUT", "closespider_pagecount": "CLOSESPIDER_PAGECOUNT"}


def limit_reached(crawler: Crawler, finish_reason: str) -> str:
    """The health record's reason when Scrapy closed the spider at one of its limits, else ""."""
    setting = LIMIT_SETTINGS.get(finish_reason)
    if setting is None:
        return ""
    what = "seconds" if setting == "CLOSESPIDER_TIMEOUT" else "pages"
    value = crawler.settings.getfloat(setting)
    return (f"stopped early: the crawl limit of {value:g} {what} ({setting}) was reached; "
            "what was found is stored, the rest waits for the next crawl")


class LinksPerPage:
    def __init__(self, crawler: Crawler, limit: int) -> None:
        self.crawler, self.limit = crawler, limit

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        limit = crawler.settings.getint("YUQING_MAX_LINKS_PER_PAGE")
        if limit <= 0:
            raise NotConfigured("YUQING_MAX_LINKS_PER_PAGE is 0: no bound on the links followed per page")
        return cls(crawler, limit)

    def _admit(self, response: Response, followed: int, output: Any) -> bool:
        """False for a request beyond the page's limit; the first one refused is reported."""
        if not isinstance(output, Request) or followed < self.limit:
            return True
        if followed == self.limit:
            self.crawler.signals.send_catch_log(
                source_state, state=DEGRADED, url=response.url,
                reason=f"page links more than {self.limit:,} pages: only the first {self.limit:,} are followed "
                       "(YUQING_MAX_LINKS_PER_PAGE)")
        return False

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        followed = 0
        for output in result:
            if self._admit(response, followed, output):
                yield output
            followed += isinstance(output, Request)

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        followed = 0
        async for output in result:
            if self._admit(response, followed, output):
                yield output
            followed += isinstance(output, Request)
