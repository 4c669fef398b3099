"""Weibo search through the mobile site's JSON API (m.weibo.cn/api/container/getIndex with
containerid `100103type=1&q=KEYWORD`), one query per keyword (default: institution names and
aliases). Cards of type 9 carry a post (`mblog`); type 11 cards group more of them.

A repost's own text is often just "转发微博": what it is about sits in its `retweeted_status`. The
original is kept as a Mention of its own, and the repost carries the original's author and text
after its own (`//@author: text`, the way Weibo shows a repost chain) and its id in `repost_of`.
A login wall (`{"ok": -100, ...}`) and the visitor page are recognised by crawlers.walls."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import scrapy
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.text import clean_html, count
from yuqing.model import Mention

NO_RESULTS = "这里还没有内容"


def _posts(cards: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for card in cards:
        if card.get("card_type") == 9 and card.get("mblog"):
            yield card["mblog"]
        yield from _posts(card.get("card_group") or [])


def _mid(post: dict[str, Any]) -> str:
    return str(post.get("mid") or post.get("id") or "")


def _original(post: dict[str, Any]) -> dict[str, Any] | None:
    """The post a repost reposts, when it is still there (a deleted original has no user)."""
    original = post.get("retweeted_status")
    if isinstance(original, dict) and _mid(original) and original.get("user"):
        return original
    return None


class WeiboSpider(SourceSpider):
    name = "weibo"
    source_type = "weibo"

    def search_url(self, keyword: str, page: int) -> str:
        containerid = quote(f"100103type=1&q={keyword}", safe="")
        return f"{self.base_url}/api/container/getIndex?containerid={containerid}&page_type=searchall&page={page}"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for keyword in self.search_words("keywords"):
            yield self._page(keyword, 1)

    def _page(self, keyword: str, page: int) -> scrapy.Request:
        return scrapy.Request(self.search_url(keyword, page), callback=self.parse,
                              headers={"Accept": "application/json, text/plain, */*",
                                       "X-Requested-With": "XMLHttpRequest", "MWeibo-Pwa": "1"},
                              cb_kwargs={"keyword": keyword, "page": page})

    def parse(self, response: Response, keyword: str = "", page: int = 1,
              **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        try:
            reply = json.loads(response.text)
        except (ValueError, AttributeError):
            raise SourceError(f"weibo search for {keyword!r} at {response.url} did not return JSON "
                              "(the API may want a login or a visitor cookie)") from None
        if reply.get("ok") != 1:
            # ok=0 on a later page only means there are no more results, and on the first page with
            # this message that the search found nothing: an answer, not a problem.
            if page == 1 and reply.get("msg") != NO_RESULTS:
                raise SourceError(f"weibo search for {keyword!r} failed at {response.url}: "
                                  f"{reply.get('msg') or 'ok != 1'}")
            return
        posts = list(_posts(reply.get("data", {}).get("cards") or []))
        if not posts and page == 1:
            self.listed_nothing(response, f"weibo search for {keyword!r}")
        for post in posts:
            original = _original(post)
            if original:
                yield self.from_listing(original)
            if post.get("isLongText") and post.get("mid"):
                # Search results cut long posts at ~140 characters ("...全文"); the rest is one call away.
                yield scrapy.Request(f"{self.base_url}/statuses/extend?id={post['mid']}", callback=self.parse_long_text,
                                     errback=self.keep_listing, cb_kwargs={"listed": post})
            else:
                yield self.from_listing(post)
        if posts and page < self.max_pages:
            yield self._page(keyword, page + 1)

    def parse_long_text(self, response: Response, listed: dict[str, Any],
                        **kwargs: Any) -> Iterator[Mention | Rejected]:
        try:
            full = json.loads(response.text)["data"]["longTextContent"]
        except (ValueError, KeyError, TypeError, AttributeError):
            self.logger.warning("no long text in %s; keeping the shortened post", response.url)
            full = listed.get("text")
        yield self.from_listing(dict(listed, text=full))

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        """A Mention from a search result's `mblog`."""
        post = listed
        mid = _mid(post)
        user = post.get("user") or {}
        content = clean_html(post.get("text"))
        original = _original(post)
        if original:
            author = (original.get("user") or {}).get("screen_name", "")
            content = f"{content}\n//@{author}: {clean_html(original.get('text'))}"
        return self.mention(
            url=f"{self.base_url}/detail/{mid}" if mid else "",
            platform_id=mid,
            title="",
            content=content,
            repost_of=self.post_key(_mid(original)) if original else "",
            author=str(user.get("screen_name") or ""),
            published=str(post.get("created_at") or ""),
            engagement=sum(count(post.get(k)) for k in ("reposts_count", "comments_count", "attitudes_count")),
        )
