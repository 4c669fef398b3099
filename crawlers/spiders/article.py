"""News article pages without selectors: trafilatura finds the text, title and author, htmldate the
publication date. Two ways in: `article` (params `urls`: the pages themselves) and `sitemap`
(params `url`: a sitemap or sitemap index, optional `allow` — a regular expression the page URLs
must match — and `max_pages`, the most pages to fetch). A page whose date htmldate cannot find takes
the sitemap's `<lastmod>`, else the fetch time, marked `published_estimated`."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.utils.sitemap import Sitemap

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from yuqing.model import Mention

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class ArticleSpider(SourceSpider):
    name = "article"
    source_type = "article"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.configured_urls():
            yield scrapy.Request(url, callback=self.parse_article)

    def parse_article(self, response: Response, lastmod: str = "", **kwargs: Any) -> Iterator[Mention | Rejected]:
        # Imported here: Scrapy's spider loader imports every spider module in every crawl, and these
        # two take seconds to import; only article and sitemap sources need them.
        import htmldate
        import trafilatura

        if not isinstance(response, TextResponse):
            raise SourceError(f"{response.url} is not a text page")
        doc = trafilatura.bare_extraction(response.text, url=response.url, with_metadata=True, as_dict=True,
                                          include_comments=False)
        if not isinstance(doc, dict) or not (doc.get("text") or "").strip():
            self.report_problem(response, "no article text found on the page")
            return
        # Markup only (meta tags, <time>, JSON-LD): extensive search guesses from any date-like text,
        # such as a copyright line, which would be a wrong date presented as a found one.
        found = htmldate.find_date(response.text, url=response.url, original_date=True, outputformat=_DATE_FORMAT,
                                   extensive_search=False)
        published: str | datetime = found or lastmod or datetime.now(timezone.utc)
        yield self.mention(url=response.url, title=str(doc.get("title") or ""), content=str(doc["text"]),
                           author=str(doc.get("author") or ""), published=published,
                           published_estimated=not found)


class SitemapSpider(ArticleSpider):
    name = "sitemap"
    source_type = "sitemap"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.params["url"], callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        try:
            sitemap = Sitemap(response.body)
        except Exception as e:  # lxml raises several kinds on a page that is no XML at all
            raise SourceError(f"{response.url} is not a sitemap: {e}") from None
        allow = re.compile(self.params.get("allow", ""))
        entries = [e for e in sitemap if e.get("loc")]
        if not entries:
            self.listed_nothing(response, "sitemap")
        if sitemap.type == "sitemapindex":
            for entry in entries:
                yield scrapy.Request(response.urljoin(entry["loc"]), callback=self.parse)
            return
        pages = [e for e in entries if allow.search(e["loc"])]
        for entry in pages[: self.params.get("max_pages", 100)]:
            yield scrapy.Request(response.urljoin(entry["loc"]), callback=self.parse_article,
                                 cb_kwargs={"lastmod": entry.get("lastmod", "")})
