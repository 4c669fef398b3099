"""A generic list/detail site described in config: list pages (`start_urls`, `list_item`, `link`,
`next_page`, `max_pages`) lead to detail pages read with `detail` selectors. `encoding` overrides
what the server and page declare (for sites that lie); GBK/GB2312 pages that declare themselves
in a header or a <meta charset> need nothing."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse

from crawlers.items import Rejected
from crawlers.sources import compile_selector
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.text import clean_html
from yuqing.model import Mention

_SKIP = {"script", "style", "noscript"}


def select(node: Selector | TextResponse, selector: str) -> SelectorList[Selector]:
    return node.xpath(compile_selector(selector, whole_page=isinstance(node, TextResponse)))


def text_of(found: SelectorList[Selector], separator: str = "\n") -> str:
    """Text of what a selector found: attribute/text results as they are, elements as their visible
    text (scripts and styles left out)."""
    parts = []
    for sel in found:
        if isinstance(sel.root, str):
            parts.append(sel.root)
        elif getattr(sel.root, "tag", None) not in _SKIP:
            parts.append(clean_html(sel.get()))
    return separator.join(p.strip() for p in parts if p.strip())


class HtmlSpider(SourceSpider):
    name = "html"
    source_type = "html"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.params["start_urls"]:
            yield scrapy.Request(url, callback=self.parse, cb_kwargs={"page": 1})

    def _decoded(self, response: Response) -> TextResponse:
        if not isinstance(response, TextResponse):
            content_type = (response.headers.get("Content-Type") or b"?").decode("latin-1")
            raise SourceError(f"{response.url} is not a text page (Content-Type {content_type})")
        if "encoding" in self.params:
            return response.replace(encoding=self.params["encoding"])
        return response

    def parse(self, response: Response, page: int = 1, **kwargs: Any) -> Iterator[scrapy.Request]:
        page_response = self._decoded(response)
        items = select(page_response, self.params["list_item"]) if "list_item" in self.params else [page_response]
        links = [link for item in items for link in text_of(select(item, self.params["link"])).splitlines()]
        if not links and page == 1:
            self.listed_nothing(response, f"list page (no link matches {self.params['link']!r})")
        for link in links:
            yield page_response.follow(link.strip(), callback=self.parse_detail)
        next_page = text_of(select(page_response, self.params["next_page"])) if "next_page" in self.params else ""
        if next_page and page < self.max_pages:
            yield page_response.follow(next_page.splitlines()[0].strip(), callback=self.parse,
                                       cb_kwargs={"page": page + 1})

    def parse_detail(self, response: Response, **kwargs: Any) -> Iterator[Mention | Rejected]:
        page = self._decoded(response)
        detail: dict[str, str] = self.params["detail"]
        fields = {name: text_of(select(page, sel)) if sel else "" for name, sel in detail.items()}
        yield self.mention(
            url=response.url,
            title=" ".join(fields.get("title", "").split()),
            content=fields.get("content", ""),
            author=" ".join(fields.get("author", "").split()),
            published=" ".join(fields.get("published_at", "").split()),
        )
