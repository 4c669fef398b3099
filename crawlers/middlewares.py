"""Downloader middlewares: `SourceHeaders` gives every request of a source its configured headers and
cookie; `DownloadFailureSignal` turns a final download failure into a `download_failed` signal with a
reason a person can act on ("cannot reach host X: DNS lookup failed"), instead of a traceback."""
from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from twisted.internet import error as net_error
from twisted.internet.defer import CancelledError as DeferCancelledError
from twisted.internet.defer import TimeoutError as DeferTimeoutError

from crawlers.signals import download_failed, source_problem
from crawlers.sources import HTTP_TOKEN
from crawlers.spiders.base import SourceSpider

if TYPE_CHECKING:
    from scrapy.http.request import VerboseCookie

log = logging.getLogger(__name__)

# Failures meaning the host could not be reached at all (as opposed to a broken response).
_UNREACHABLE: tuple[tuple[type[BaseException], str], ...] = (
    (CannotResolveHostError, "DNS lookup failed"),
    (DownloadConnectionRefusedError, "connection refused"),
    (DownloadTimeoutError, "timed out"),
    (net_error.DNSLookupError, "DNS lookup failed"),
    (net_error.ConnectionRefusedError, "connection refused"),
    (net_error.NoRouteError, "no route to host"),
    (net_error.TCPTimedOutError, "connection timed out"),
    (net_error.TimeoutError, "timed out"),
    (DeferTimeoutError, "timed out"),
    (net_error.ConnectError, "could not connect"),
)


def describe_failure(request: Request, exception: BaseException, maxsize: int = 0) -> tuple[str, bool]:
    """(reason, unreachable) for a failed request. `maxsize` is DOWNLOAD_MAXSIZE: Scrapy cancels a
    download that grows past it."""
    parts = urlsplit(request.url)
    host = parts.netloc or request.url
    for kind, text in _UNREACHABLE:
        if isinstance(exception, kind):
            return f"cannot reach host {host}: {text}", True
    limit = request.meta.get("download_maxsize", maxsize)
    if limit and isinstance(exception, (DownloadCancelledError, DeferCancelledError)):
        return (f"not downloaded: {request.url} is larger than the download limit of {limit:,} bytes "
                "(DOWNLOAD_MAXSIZE)"), False
    if isinstance(exception, IgnoreRequest):
        # Most often robots.txt saying no: without this the source would just report nothing found.
        return f"not fetched: {request.url}: {exception}", False
    return f"download of {request.url} failed: {type(exception).__name__}: {exception}", False


class DownloadFailureSignal:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DownloadFailureSignal:
        return cls(crawler)

    def process_exception(self, request: Request, exception: BaseException) -> None:
        reason, unreachable = describe_failure(request, exception, self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        self.crawler.signals.send_catch_log(download_failed, request=request, reason=reason,
                                            unreachable=unreachable)
        # let Scrapy carry on (errbacks, logging) as usual


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cookie_jar_entries(header: str) -> list[VerboseCookie]:
    """The cookies of a Cookie header value as a browser sends it ("SUB=...; SUBP=..."), in the form
    Scrapy's Request.cookies takes. Raises ValueError when the text is not one; the message never
    quotes the text, which is a secret."""
    text = header.strip()
    if text[:7].lower() == "cookie:":  # the whole header line was copied, name and all
        text = text[7:]
    pairs = [pair.strip().partition("=") for pair in text.split(";") if pair.strip()]
    if not pairs or any(not equals or not HTTP_TOKEN.match(name.strip()) or _CONTROL.search(value)
                        for name, equals, value in pairs):
        raise ValueError("does not hold a Cookie header value (name=value; name2=value2)")
    # Path /: without it the jar would keep each cookie to the folder of the first URL it went to.
    return [{"name": name.strip(), "value": value.strip(), "path": "/"} for name, _, value in pairs]


class SourceHeaders:
    """Adds a source's `headers` param, and the cookie in the environment variable its `cookie_env`
    param names, to every request its spider makes, so no spider has to remember to.

    The cookie goes into Scrapy's cookie jar (Request.cookies) rather than a Cookie header, which
    CookiesMiddleware would replace: the jar keeps it to the host it was sent to, also across
    redirects, merges it with the cookies the site sets, and logs nothing unless COOKIES_DEBUG is on.
    """

    _APPLIED = "yuqing_source_headers"

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.headers: dict[str, str] = {}
        self.cookies: list[VerboseCookie] = []
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceHeaders:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        assert isinstance(spider, SourceSpider)
        self.headers = spider.params.get("headers", {})
        if "cookie_env" in spider.params:
            self.cookies = self._cookies(spider.name, spider.params["cookie_env"])

    def _cookies(self, source: str, variable: str) -> list[VerboseCookie]:
        """The cookie from the environment; when it is missing or unreadable, the source's report
        says so and the source is crawled without one (it may still work, or say why it does not)."""
        value = os.environ.get(variable, "")
        try:
            if value.strip():
                return cookie_jar_entries(value)
            problem = "is not set"
        except ValueError as e:
            problem = str(e)
        reason = f"cookie_env {variable} {problem}; crawling without a cookie"
        log.warning("source %s: %s", source, reason)
        self.crawler.signals.send_catch_log(source_problem, reason=reason)
        return []

    def process_request(self, request: Request) -> None:
        # Once per request: a redirect or retry copies meta, so the jar alone decides where the
        # cookie follows (not to another host), and the spider's request is not handed it twice.
        if request.meta.get(self._APPLIED):
            return
        request.meta[self._APPLIED] = True
        for name, value in self.headers.items():
            request.headers[name] = value  # the config overrides the spider's defaults
        if self.cookies:
            # Copies: the cookie middleware marks each with the request's scheme (secure or not).
            # Our spiders set no cookies of their own.
            request.cookies = [c.copy() for c in self.cookies]
