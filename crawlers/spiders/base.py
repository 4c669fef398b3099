"""What every source spider shares: its source config, the time zone, building Mentions."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.context import config_from_settings
from crawlers.dates import parse_datetime
from crawlers.items import Rejected
from crawlers.signals import source_state
from crawlers.sources import DEFAULT_BASE_URLS, search_words, validate_source
from crawlers.walls import DEGRADED
from yuqing.config import Config, ConfigError, SourceConfig
from yuqing.model import Mention, mention_id


class SourceError(Exception):
    """A source answered with something we cannot read (malformed feed, unexpected API reply).
    The message names the URL and the problem; the health extension reports it."""


class SourceSpider(scrapy.Spider):
    """Base of all source spiders. `name` (the class attribute) is the source type, so
    `scrapy crawl rss -a source=NAME` works; each instance is named after its source."""

    source_type: ClassVar[str]
    # Whose post ids these are, for mention ids: two ways into one platform give one id per post.
    platform: ClassVar[str] = ""

    def __init__(self, source: SourceConfig, config: Config, **kwargs: Any) -> None:
        super().__init__(name=source.name, **kwargs)
        self.source, self.config = source, config
        self.params: dict[str, Any] = source.params
        self.tz = config.tz
        self.date_format: str | None = self.params.get("date_format")
        self.max_pages: int = self.params.get("max_pages", 3)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, source: str | SourceConfig | None = None,
                     **kwargs: Any) -> SourceSpider:
        config = config_from_settings(crawler.settings)
        if not isinstance(source, SourceConfig):
            source = cls._find_source(config, source)
        validate_source(config, config.sources.index(source), source)
        spider = cls(source, config, *args, **kwargs)
        spider._set_crawler(crawler)
        return spider

    @classmethod
    def _find_source(cls, config: Config, name: str | None) -> SourceConfig:
        if name:
            return config.source(name)
        of_type = [s for s in config.sources if s.type == cls.source_type]
        if len(of_type) != 1:
            raise ConfigError(config.path, "sources", f"say which {cls.source_type} source to crawl "
                                                      f"(-a source=NAME); configured: {len(of_type)}")
        return of_type[0]

    @property
    def base_url(self) -> str:
        return str(self.params.get("base_url", DEFAULT_BASE_URLS.get(self.source_type, ""))).rstrip("/")

    def configured_urls(self) -> list[str]:
        """The `urls` param (one URL or a list), else `url`."""
        urls = self.params.get("urls") or self.params["url"]
        return [urls] if isinstance(urls, str) else list(urls)

    def search_words(self, key: str) -> list[str]:
        return search_words(self.config, self.source, key)

    def mention(self, *, url: str, published: str | datetime | None, platform_id: str = "",
                **fields: Any) -> Mention | Rejected:
        """A Mention for this source, or a Rejected saying why one cannot be made."""
        raw = dict(fields, url=url, published=str(published or ""), platform_id=platform_id)
        try:
            published_at = self.parse_date(published) if isinstance(published, str) else published
        except ValueError as e:
            return Rejected(url, self.source.name, f"unreadable date {published!r}: {e}", raw)
        try:
            return Mention(url=url, source=self.source.name, published_at=published_at,
                           platform=self.post_platform, platform_id=platform_id,
                           **fields)
        except ValueError as e:
            return Rejected(url, self.source.name, str(e), raw)

    def report_problem(self, response: Response, reason: str) -> None:
        """Something about this page that the source's state must show, though the crawl goes on."""
        self.logger.warning("%s: %s", response.url, reason)
        assert self.crawler is not None
        self.crawler.signals.send_catch_log(source_state, state=DEGRADED, reason=reason, url=response.url)

    def listed_nothing(self, response: Response, what: str) -> None:
        """A page that should list posts lists none: never a healthy source that found nothing
        (a changed layout, or a wall we do not know yet)."""
        self.report_problem(response, f"{what} lists no posts (layout changed, or a wall?)")

    @property
    def post_platform(self) -> str:
        """The `platform` of this source's mentions: whose post ids their `platform_id`s are."""
        return self.platform or self.source_type

    def post_key(self, platform_id: str) -> str:
        """The mention id of this platform's post `platform_id`."""
        return mention_id(platform=self.post_platform, post_id=platform_id)

    def parse_date(self, text: str) -> datetime | None:
        if not text.strip():
            return None
        return parse_datetime(text, self.tz, date_format=self.date_format)

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        """A Mention from what a list page showed about a post (platform spiders override)."""
        raise NotImplementedError

    def keep_listing(self, failure: Failure) -> Iterator[Mention | Rejected]:
        """Errback for a post page that could not be fetched: keep what the list page showed."""
        request = failure.request  # type: ignore[attr-defined]
        self.logger.warning("%s unavailable (%s); keeping what its list page showed", request.url,
                            failure.getErrorMessage())
        yield self.from_listing(request.cb_kwargs["listed"])
