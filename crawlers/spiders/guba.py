"""Eastmoney Guba stock boards (`/list,CODE.html`, `/list,CODE_N.html`) and their posts
(`/news,CODE,POSTID.html`). The list page embeds its rows as `var article_list = {...}` (the
server-rendered table is read when that script is missing); a post page embeds
`var post_article = {...}`. Params: `boards` — stock codes, or a mapping code → institution, in
which case every post on that board counts as being about the institution."""
from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.html import text_of
from crawlers.text import clean_html, count
from yuqing.model import Mention

_POST_LINK = re.compile(r"news,(\w+),(\d+)\.html")


def embedded_json(response: Response, variable: str) -> dict[str, Any] | None:
    """The object literal assigned to `var VARIABLE = {...}` in a page script, if valid JSON."""
    m = re.search(rf"var\s+{variable}\s*=\s*\{{", response.text)
    if not m:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(response.text, m.end() - 1)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class GubaSpider(SourceSpider):
    name = "guba"
    source_type = "guba"

    @property
    def boards(self) -> dict[str, str]:
        boards = self.params["boards"]
        if isinstance(boards, dict):
            return {str(k): str(v) for k, v in boards.items()}
        return {str(code): "" for code in ([boards] if isinstance(boards, str) else boards)}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for code in self.boards:
            yield self._list(code, 1)

    def _list(self, code: str, page: int) -> scrapy.Request:
        suffix = "" if page == 1 else f"_{page}"
        return scrapy.Request(f"{self.base_url}/list,{code}{suffix}.html", callback=self.parse,
                              cb_kwargs={"code": code, "page": page})

    def parse(self, response: Response, code: str = "", page: int = 1,
              **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        rows = self._rows(response, code)
        if not rows:
            self.logger.warning("no posts found on guba list page %s (layout changed?)", response.url)
        for row in rows:
            if self.params.get("fetch_posts", True):
                yield scrapy.Request(self.post_url(code, row["post_id"]), callback=self.parse_post,
                                     errback=self.keep_listing, cb_kwargs={"listed": row})
            else:
                yield self.from_listing(row)
        if rows and page < self.max_pages:
            yield self._list(code, page + 1)

    def post_url(self, code: str, post_id: str) -> str:
        return f"{self.base_url}/news,{code},{post_id}.html"

    def _rows(self, response: Response, code: str) -> list[dict[str, Any]]:
        listing = embedded_json(response, "article_list")
        if listing is not None:
            return [{
                "code": code, "post_id": str(r.get("post_id", "")), "title": str(r.get("post_title", "")),
                "author": str(r.get("user_nickname", "")), "published": str(r.get("post_publish_time", "")),
                "engagement": count(r.get("post_comment_count")) + count(r.get("post_forward_count")),
            } for r in listing.get("re") or [] if r.get("post_id")]
        rows = []
        for tr in response.css("tr.listitem"):
            link = _POST_LINK.search(tr.css("div.title a::attr(href)").get(""))
            if link:
                rows.append({"code": code, "post_id": link.group(2), "title": text_of(tr.css("div.title a")),
                             "author": text_of(tr.css("div.author")), "published": text_of(tr.css("div.update")),
                             "engagement": count(text_of(tr.css("div.reply")))})
        return rows

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        institution = self.boards.get(listed["code"], "")
        return self.mention(url=self.post_url(listed["code"], listed["post_id"]), platform_id=listed["post_id"],
                            title=listed["title"], content=listed.get("content") or listed["title"],
                            author=listed["author"], published=listed["published"], engagement=listed["engagement"],
                            institutions=[institution] if institution else [])

    def parse_post(self, response: Response, listed: dict[str, Any], **kwargs: Any) -> Iterator[Mention | Rejected]:
        post = (embedded_json(response, "post_article") or {}).get("post") or {}
        content = clean_html(post.get("post_content")) or text_of(response.css("div.newstext, #post_content"))
        published = str(post.get("post_publish_time") or "") or listed["published"]
        title = clean_html(post.get("post_title")) or text_of(response.css("h1.title")) or listed["title"]
        yield self.from_listing(dict(listed, title=title, content=content, published=published))

