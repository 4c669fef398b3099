"""Baidu Tieba forums (`/f?kw=FORUM`, default: institution names). The real list page ships the
thread list inside HTML comments in <code> blocks (rendered by script), so the list is parsed out of
those comments; each thread page (`/p/TID`) then gives the first post in full. If a thread page
cannot be fetched, the list entry (title + abstract) is kept instead."""
from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import scrapy
from parsel import Selector
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.html import text_of
from crawlers.text import count
from yuqing.model import Mention

THREADS_PER_PAGE = 50
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}")


def _data_field(node: Selector) -> dict[str, Any]:
    try:
        value = json.loads(node.attrib.get("data-field") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def thread_nodes(response: Response) -> list[Selector]:
    """Thread <li>s, whether served plainly or hidden in the <code><!-- --></code> pagelets."""
    nodes = list(response.css("li.j_thread_list"))
    for comment in response.xpath("//code/comment()").getall():
        nodes.extend(Selector(text=comment[4:-3]).css("li.j_thread_list"))
    return nodes


class TiebaSpider(SourceSpider):
    name = "tieba"
    source_type = "tieba"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for forum in self.search_words("forums"):
            yield self._list(forum, 1)

    def _list(self, forum: str, page: int) -> scrapy.Request:
        url = f"{self.base_url}/f?kw={quote(forum)}&ie=utf-8&pn={(page - 1) * THREADS_PER_PAGE}"
        return scrapy.Request(url, callback=self.parse, cb_kwargs={"forum": forum, "page": page})

    def parse(self, response: Response, forum: str = "", page: int = 1,
              **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        threads = thread_nodes(response)
        if not threads:
            self.logger.warning("no threads found on tieba list page %s (layout changed, or a login wall?)",
                                response.url)
        for node in threads:
            listed = self._listed(node)
            if not listed["tid"]:
                continue
            if self.params.get("fetch_threads", True):
                yield scrapy.Request(f"{self.base_url}/p/{listed['tid']}", callback=self.parse_thread,
                                     errback=self.keep_listing, cb_kwargs={"listed": listed})
            else:
                yield self.from_listing(listed)
        if threads and page < self.max_pages:
            yield self._list(forum, page + 1)

    def _listed(self, node: Selector) -> dict[str, Any]:
        field = _data_field(node)
        title = node.css("a.j_th_tit")
        return {
            "tid": str(node.attrib.get("data-tid") or field.get("id") or ""),
            "title": (title.attrib.get("title") or text_of(title)).strip(),
            "content": text_of(node.css("div.threadlist_abs")),
            "author": str(field.get("author_nickname") or field.get("author_name") or ""),
            "published": text_of(node.css("span.is_show_create_time")),
            "engagement": count(field.get("reply_num")),
        }

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        return self.mention(url=f"{self.base_url}/p/{listed['tid']}", platform_id=listed["tid"],
                            title=listed["title"], content=listed["content"] or listed["title"],
                            author=listed["author"], published=listed["published"],
                            engagement=listed["engagement"])

    def parse_thread(self, response: Response, listed: dict[str, Any],
                     **kwargs: Any) -> Iterator[Mention | Rejected]:
        first = response.css("div.l_post")[:1]
        field = _data_field(first[0]) if first else {}
        tail = _DATE.findall(" ".join(first.css(".post-tail-wrap ::text, .tail-info::text").getall()))
        title = response.css(".core_title_txt")
        yield self.from_listing(dict(
            listed,
            title=(title.attrib.get("title") or text_of(title) or listed["title"]).strip(),
            content=text_of(first.css("div.d_post_content")) or listed["content"],
            author=text_of(first.css("a.p_author_name")) or listed["author"],
            published=(field.get("content") or {}).get("date") or (tail[0] if tail else listed["published"]),
        ))

