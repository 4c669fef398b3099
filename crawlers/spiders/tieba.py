"""Baidu Tieba forums (`/f?kw=FORUM`, default: institution names). The real list page ships the
thread list inside HTML comments in <code> blocks (rendered by script), so the list is parsed out of
those comments; each thread page (`/p/TID`) then gives the first post in full. If a thread page
cannot be fetched, the list entry (title + abstract) is kept instead; its date (`11-24`, or `2023-11`
for older threads) has no time of day, so it is marked `published_estimated`.

`keywords` searches the whole site instead (`/f/search/res?qw=WORD&sm=1`, newest first): each
result (`div.s_post`) names its forum and author and shows the full date. A first floor that is
only images stores `[图片]` for each, never the page's `点击展开，查看完整图片` label."""
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
from crawlers.text import clean_html, count
from yuqing.model import Mention

THREADS_PER_PAGE = 50
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}")
_TID = re.compile(r"/p/(\d+)")
# The fold-out label over a long image, and the images themselves.
_IMAGE_TIP = re.compile(r"<div[^>]*class=\"replace_tip\"[^>]*>.*?</div>", re.DOTALL)
_IMAGE = re.compile(r"<img[^>]*class=\"[^\"]*BDE_Image[^\"]*\"[^>]*>")


def post_text(html: str) -> str:
    """A floor's text, each posted image as [图片]."""
    return clean_html(_IMAGE.sub("[图片]", _IMAGE_TIP.sub("", html)))


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
        if "keywords" in self.params:
            for keyword in self.search_words("keywords"):
                yield self._search(keyword, 1)
            return
        for forum in self.search_words("forums"):
            yield self._list(forum, 1)

    def _search(self, keyword: str, page: int) -> scrapy.Request:
        url = f"{self.base_url}/f/search/res?ie=utf-8&qw={quote(keyword)}&rn=20&sm=1&pn={page}"
        return scrapy.Request(url, callback=self.parse_search, cb_kwargs={"keyword": keyword, "page": page})

    def parse_search(self, response: Response, keyword: str = "", page: int = 1,
                     **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        results = response.css("div.s_post")
        if not results:
            if page == 1 and not response.css("div.search_noresult"):
                self.listed_nothing(response, f"tieba search for {keyword!r}")
            return
        for post in results:
            tid = _TID.search(post.css("span.p_title a::attr(href)").get(""))
            if tid:
                yield from self._follow({
                    "tid": tid.group(1), "title": text_of(post.css("span.p_title a"), separator=""),
                    "content": text_of(post.css("div.p_content"), separator=""),
                    "author": text_of(post.css("a[href*='/home/main'] font.p_violet, a[href*='un='] font.p_violet")),
                    "published": text_of(post.css("font.p_date")), "engagement": 0,
                })
        if page < self.max_pages and response.css(".pager a.next"):
            yield self._search(keyword, page + 1)

    def _follow(self, listed: dict[str, Any]) -> Iterator[Mention | Rejected | scrapy.Request]:
        if self.params.get("fetch_threads", True):
            yield scrapy.Request(f"{self.base_url}/p/{listed['tid']}", callback=self.parse_thread,
                                 errback=self.keep_listing, cb_kwargs={"listed": listed})
        else:
            yield self.from_listing(listed)

    def _list(self, forum: str, page: int) -> scrapy.Request:
        url = f"{self.base_url}/f?kw={quote(forum)}&ie=utf-8&pn={(page - 1) * THREADS_PER_PAGE}"
        return scrapy.Request(url, callback=self.parse, cb_kwargs={"forum": forum, "page": page})

    def parse(self, response: Response, forum: str = "", page: int = 1,
              **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        threads = thread_nodes(response)
        if not threads and page == 1:
            self.listed_nothing(response, f"tieba forum {forum!r}")
        for node in threads:
            listed = self._listed(node)
            if listed["tid"]:
                yield from self._follow(listed)
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
                            engagement=listed["engagement"],
                            published_estimated=":" not in listed["published"])

    def parse_thread(self, response: Response, listed: dict[str, Any],
                     **kwargs: Any) -> Iterator[Mention | Rejected]:
        first = response.css("div.l_post")[:1]
        field = _data_field(first[0]) if first else {}
        tail = _DATE.findall(" ".join(first.css(".post-tail-wrap ::text, .tail-info::text").getall()))
        title = response.css(".core_title_txt")
        yield self.from_listing(dict(
            listed,
            title=(title.attrib.get("title") or text_of(title) or listed["title"]).strip(),
            content=post_text(first.css("div.d_post_content").get("")) or listed["content"],
            author=text_of(first.css("a.p_author_name")) or listed["author"],
            published=(field.get("content") or {}).get("date") or (tail[0] if tail else listed["published"]),
        ))

