"""Feeds (params: `url` or `urls`): RSS 0.9x, 1.0 (RDF) and 2.0, Atom 0.3 and 1.0, read by
feedparser. The bytes are decoded here first, with the charset the HTTP header declares (else the
XML declaration) and, for the GB family, the fallback chain gb2312 → GBK → GB18030 (Big5 →
Big5-HKSCS → cp950 for Big5): Chinese feeds that declare gb2312 often hold GBK or GB18030
characters, and one such character would otherwise lose the whole feed. An item without a date
takes the feed's own date, else the fetch time, and is marked `published_estimated`."""
from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import feedparser
import scrapy
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.text import clean_html
from yuqing.model import Mention

# Each declared charset, and the wider ones its text really turns out to be in.
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb2312", "gbk", "gb18030"),
    "gbk": ("gbk", "gb18030"),
    "gb18030": ("gb18030",),
    "big5": ("big5", "big5hkscs", "cp950"),
}
_ALIASES = {"x-gbk": "gbk", "cp936": "gbk", "windows-936": "gbk", "euc-cn": "gb2312", "hz-gb-2312": "gb2312",
            "big5-hkscs": "big5", "x-x-big5": "big5", "utf8": "utf-8"}
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])[A-Za-z0-9._-]+([\"'])", re.IGNORECASE)


def _charset_of(content_type: str) -> str:
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", content_type, re.IGNORECASE)
    return m.group(1) if m else ""


def _chain(charset: str) -> tuple[str, ...]:
    charset = _ALIASES.get(charset.lower(), charset.lower())
    return _FALLBACKS.get(charset, (charset,)) if charset else ()


def decode_feed(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, encoding used): the HTTP charset first (RFC 7303: it wins), then the XML
    declaration's, each along its fallback chain, then UTF-8. Raises ValueError naming what was tried."""
    declared_xml = _XML_DECLARATION.match(body)
    chain = dict.fromkeys((*_chain(_charset_of(content_type)),
                           *_chain(declared_xml.group(1).decode("ascii") if declared_xml else ""), "utf-8"))
    for encoding in chain:
        try:
            return body.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    raise ValueError(f"not readable as {', '.join(chain)}")


def _utc(parsed: time.struct_time | None) -> datetime | None:
    return datetime(*parsed[:6], tzinfo=timezone.utc) if parsed else None


class FeedSpider(SourceSpider):
    name = "rss"
    source_type = "rss"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.configured_urls():
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Mention | Rejected]:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        try:
            text, encoding = decode_feed(response.body, content_type)
        except ValueError as e:
            raise SourceError(f"feed {response.url} cannot be decoded: {e}") from None
        # feedparser is handed the decoded text as UTF-8, so it never second-guesses the charset.
        utf8 = _DECLARED_ENCODING.sub(r"\g<1>utf-8\g<2>", text, count=1).encode("utf-8")
        feed = feedparser.parse(utf8, response_headers={"content-type": "application/xml; charset=utf-8",
                                                        "content-location": response.url})
        if not feed.version and not feed.entries:
            problem = f": {feed.bozo_exception}" if feed.bozo else ""
            raise SourceError(f"{response.url} is not an RSS or Atom feed{problem}")
        if feed.bozo and not isinstance(feed.bozo_exception, feedparser.CharacterEncodingOverride):
            if not feed.entries:
                raise SourceError(f"feed {response.url} is not well-formed XML: {feed.bozo_exception}")
            self.report_problem(response, f"feed is not well-formed XML ({feed.bozo_exception}); "
                                          f"read {len(feed.entries)} items leniently")
        if not feed.entries:
            self.listed_nothing(response, f"feed ({feed.version or 'unknown version'}, {encoding})")
        page_date = _utc(feed.feed.get("updated_parsed") or feed.feed.get("published_parsed"))
        fetched = datetime.now(timezone.utc)
        for entry in feed.entries:
            yield self._entry(response, entry, page_date or fetched, str(feed.feed.get("author") or ""))

    def _entry(self, response: Response, entry: Any, fallback: datetime, feed_author: str) -> Mention | Rejected:
        link = entry.get("link") or (entry.get("id") if entry.get("guidislink") else "")
        content = entry.get("content") or []
        raw_date = entry.get("published") or entry.get("updated") or ""
        published: str | datetime = raw_date
        if raw_date:
            try:
                self.parse_date(raw_date)
            except ValueError:
                # Our parser knows the Chinese forms; feedparser knows a few more (W3C-DTF variants).
                published = _utc(entry.get("published_parsed") or entry.get("updated_parsed")) or raw_date
        else:
            published = fallback
        return self.mention(
            url=response.urljoin(link) if link else "",
            title=clean_html(entry.get("title")),
            content=clean_html(content[0].get("value") if content else entry.get("summary")),
            author=str(entry.get("author") or feed_author),
            published=published,
            published_estimated=not raw_date,
        )
