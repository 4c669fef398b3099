"""Downloader middleware that turns a final download failure into a `download_failed` signal with a
reason a person can act on ("cannot reach host X: DNS lookup failed"), instead of a traceback."""
from __future__ import annotations

from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from twisted.internet import error as net_error
from twisted.internet.defer import TimeoutError as DeferTimeoutError

from crawlers.signals import download_failed

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


def describe_failure(request: Request, exception: BaseException) -> tuple[str, bool]:
    """(reason, unreachable) for a failed request."""
    parts = urlsplit(request.url)
    host = parts.netloc or request.url
    for kind, text in _UNREACHABLE:
        if isinstance(exception, kind):
            return f"cannot reach host {host}: {text}", True
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
        reason, unreachable = describe_failure(request, exception)
        self.crawler.signals.send_catch_log(download_failed, request=request, reason=reason,
                                            unreachable=unreachable)
        # let Scrapy carry on (errbacks, logging) as usual
