"""Eastmoney Guba stock boards (`/list,CODE.html`, `/list,CODE_N.html`) and their posts
(`/news,CODE,POSTID.html`). The list page embeds its rows as `var article_list = {...}` (the
server-rendered table is read when that script is missing); a post page embeds
`var post_article = {...}`. Params: `boards` — stock codes, or a mapping code → institution, in
which case every post on that board counts as being about the institution.

A real board list is not all the board's own posts: 财富号 articles (`post_type` 20) live on
caifuhao.eastmoney.com under their `post_source_id`, and rows from other stocks' boards are mixed
in (their `stockbar_code` says whose). Each row keeps its true URL and board, and only a row of a
mapped board counts for that board's institution. The nickname is in `user_nickname`, or under
`post_user` on the hot rows; list titles are cut at about 40 characters, so the post page's title
wins."""
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
_CAIFUHAO_LINK = re.compile(r"caifuhao\.eastmoney\.com/news/(\d+)")
CAIFUHAO_POST_TYPE = 20
_SITE_SUFFIX = re.compile(r"\s*[_＿]\s*(财富号[_＿]\s*)?东方财富网\s*$")


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
        if not rows and page == 1:
            self.listed_nothing(response, f"guba board {code}")
        for row in rows:
            if self.params.get("fetch_posts", True):
                yield scrapy.Request(row["url"], callback=self.parse_caifuhao if row["caifuhao"] else self.parse_post,
                                     errback=self.keep_listing, cb_kwargs={"listed": row})
            else:
                yield self.from_listing(row)
        if rows and page < self.max_pages:
            yield self._list(code, page + 1)

    def post_url(self, board: str, post_id: str) -> str:
        return f"{self.base_url}/news,{board},{post_id}.html"

    def caifuhao_url(self, article_id: str) -> str:
        base = str(self.params.get("caifuhao_base_url", "https://caifuhao.eastmoney.com")).rstrip("/")
        return f"{base}/news/{article_id}"

    def _row(self, code: str, post_id: str, board: str, caifuhao_id: str, **fields: Any) -> dict[str, Any]:
        url = self.caifuhao_url(caifuhao_id) if caifuhao_id else self.post_url(board, post_id)
        return {"code": code, "board": board, "post_id": post_id, "url": url, "caifuhao": bool(caifuhao_id), **fields}

    def _rows(self, response: Response, code: str) -> list[dict[str, Any]]:
        listing = embedded_json(response, "article_list")
        if listing is not None:
            rows = []
            for r in listing.get("re") or []:
                if not r.get("post_id"):
                    continue
                user, guba = r.get("post_user") or {}, r.get("post_guba") or {}
                source_id = str(r.get("post_source_id") or "")
                rows.append(self._row(
                    code, str(r["post_id"]), str(r.get("stockbar_code") or guba.get("stockbar_code") or code),
                    source_id if r.get("post_type") == CAIFUHAO_POST_TYPE and source_id else "",
                    title=str(r.get("post_title", "")), content=clean_html(r.get("post_content")),
                    author=str(r.get("user_nickname") or user.get("user_nickname") or ""),
                    published=str(r.get("post_publish_time", "")),
                    engagement=count(r.get("post_comment_count")) + count(r.get("post_forward_count"))))
            return rows
        rows = []
        for tr in response.css("tr.listitem"):
            href = tr.css("div.title a::attr(href)").get("")
            link, caifuhao = _POST_LINK.search(href), _CAIFUHAO_LINK.search(href)
            post_id = tr.css("div.title a::attr(data-postid)").get("") or (link.group(2) if link else "")
            if post_id and (link or caifuhao):
                rows.append(self._row(code, post_id, link.group(1) if link else code,
                                      caifuhao.group(1) if caifuhao else "",
                                      title=text_of(tr.css("div.title a")), content="",
                                      author=text_of(tr.css("div.author")), published=text_of(tr.css("div.update")),
                                      engagement=count(text_of(tr.css("div.reply")))))
        return rows

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        # A row from another stock's board is about that stock: only its own board's mapping applies.
        institution = self.boards.get(listed["board"], "")
        return self.mention(url=listed["url"], platform_id=listed["post_id"],
                            title=listed["title"], content=listed.get("content") or listed["title"],
                            author=listed["author"], published=listed["published"], engagement=listed["engagement"],
                            institutions=[institution] if institution else [])

    def parse_post(self, response: Response, listed: dict[str, Any], **kwargs: Any) -> Iterator[Mention | Rejected]:
        post = (embedded_json(response, "post_article") or {}).get("post") or {}
        content = clean_html(post.get("post_content")) or text_of(response.css("div.newstext, #post_content"))
        published = str(post.get("post_publish_time") or "") or listed["published"]
        title = clean_html(post.get("post_title")) or text_of(response.css("h1.title")) or listed["title"]
        author = str((post.get("post_user") or {}).get("user_nickname") or "") or listed["author"]
        yield self.from_listing(dict(listed, title=title, content=content or listed["content"], published=published,
                                     author=author))

    def parse_caifuhao(self, response: Response, listed: dict[str, Any],
                       **kwargs: Any) -> Iterator[Mention | Rejected]:
        """A 财富号 article page: the article in div.g_content, the full title in <title>."""
        title = _SITE_SUFFIX.sub("", text_of(response.css("title::text"))) or text_of(response.css("div.article h1"))
        content = text_of(response.css("div.g_content div.article-body, div.g_content #ContentBody")) or \
            text_of(response.css("div.g_content"))
        yield self.from_listing(dict(listed, title=title or listed["title"], content=content or listed["content"]))
