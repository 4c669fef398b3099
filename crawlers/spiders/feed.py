"""RSS 2.0 and Atom feeds (params: `url` or `urls`)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from lxml import etree
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.text import clean_html
from yuqing.model import Mention

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
# Entities and network access stay off: a feed is untrusted input.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=False)


def _first(node: Any, *paths: str) -> str:
    for path in paths:
        found = node.xpath(path, namespaces=_NS)
        for value in found:
            text = value if isinstance(value, str) else "".join(value.itertext())
            if text.strip():
                return str(text).strip()
    return ""


class FeedSpider(SourceSpider):
    name = "rss"
    source_type = "rss"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        urls = self.params.get("urls") or [self.params["url"]]
        for url in [urls] if isinstance(urls, str) else urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Mention | Rejected]:
        try:
            root = etree.fromstring(response.body, parser=_PARSER)
        except etree.XMLSyntaxError as e:
            raise SourceError(f"feed {response.url} is not well-formed XML: {e}") from None
        if root.tag == f"{{{_NS['atom']}}}feed":
            yield from (self._atom_entry(response, e) for e in root.findall("atom:entry", _NS))
        elif root.tag == "rss":
            yield from (self._rss_item(response, i) for i in root.iterfind("channel/item"))
        else:
            raise SourceError(f"{response.url} is XML but neither RSS 2.0 nor Atom (root element <{root.tag}>)")

    def _rss_item(self, response: Response, item: Any) -> Mention | Rejected:
        link = _first(item, "link/text()") or _first(item, "guid[not(@isPermaLink='false')]/text()")
        return self.mention(
            url=response.urljoin(link) if link else "",
            title=clean_html(_first(item, "title")),
            content=clean_html(_first(item, "content:encoded", "description")),
            author=_first(item, "dc:creator", "author"),
            published=_first(item, "pubDate", "dc:date"),
        )

    def _atom_entry(self, response: Response, entry: Any) -> Mention | Rejected:
        link = _first(entry, "atom:link[@rel='alternate']/@href", "atom:link[not(@rel)]/@href")
        return self.mention(
            url=response.urljoin(link) if link else "",
            title=clean_html(_first(entry, "atom:title")),
            content=clean_html(_first(entry, "atom:content", "atom:summary")),
            author=_first(entry, "atom:author/atom:name"),
            published=_first(entry, "atom:published", "atom:updated"),
        )
