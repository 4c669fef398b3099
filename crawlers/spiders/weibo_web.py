"""Weibo's web search (s.weibo.com/weibo?q=KEYWORD), the second way in beside the mobile API, for
the posts of a time window: `timescope=custom:START:END` (hours, `2026-11-26-8`). Params:
`keywords` (default: institution names and aliases), `window_hours` (default 24), `until` (the
window's end, `YYYY-MM-DD-H`; default: the current hour), `max_pages` (per window, default 50),
`base_url`.

A search shows at most 50 pages (`ul.s-scroll` lists them). A window whose search fills all 50 is
cut in two and each half searched again, down to one hour, so a busy day is read in full rather
than to its first 50 pages (the approach of the weibo-search project, which cuts to days, hours
and then regions). A result is a `div.card-wrap[mid]`: the author in `div.info a.name`, the text in
`p.txt` (the `feed_list_content_full` one when the post is long), the time and link in `p.from`,
counts in `div.card-act`; a repost's original sits in `div.card-comment`. Posts get the same ids as
the mobile API gives them (platform `weibo`), so one post found both ways is one mention."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import scrapy
from parsel import Selector, SelectorList
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.html import text_of
from crawlers.text import count
from yuqing.model import Mention

PAGE_CAP = 50  # pages s.weibo.com shows for one search
_MID = re.compile(r"mid=(\d+)")
_COUNT = re.compile(r"(\d+(?:\.\d+)?万?)")
_FULL_TEXT_TAIL = re.compile(r"\s*收起(全文)?d?\s*$")


def hour_label(moment: datetime) -> str:
    """s.weibo.com's hour form: 2026-11-26-8 (no leading zero on the hour)."""
    return f"{moment:%Y-%m-%d}-{moment.hour}"


def parse_hour(label: str, tz: Any) -> datetime:
    day, _, hour = label.rpartition("-")
    return datetime.strptime(day, "%Y-%m-%d").replace(hour=int(hour), tzinfo=tz)


class WeiboWebSpider(SourceSpider):
    name = "weibo-web"
    source_type = "weibo-web"
    platform = "weibo"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        until = self.params.get("until")
        end = parse_hour(until, self.tz) if until else datetime.now(self.tz).replace(minute=0, second=0,
                                                                                       microsecond=0)
        start = end - timedelta(hours=self.params.get("window_hours", 24))
        for keyword in self.search_words("keywords"):
            yield self._search(keyword, start, end, 1)

    def _search(self, keyword: str, start: datetime, end: datetime, page: int) -> scrapy.Request:
        url = (f"{self.base_url}/weibo?q={quote(keyword)}&typeall=1&suball=1"
               f"&timescope=custom:{hour_label(start)}:{hour_label(end)}&page={page}")
        return scrapy.Request(url, callback=self.parse,
                              cb_kwargs={"keyword": keyword, "start": start, "end": end, "page": page})

    def parse(self, response: Response, keyword: str = "", start: datetime | None = None, end: datetime | None = None,
              page: int = 1, **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        assert start is not None and end is not None
        cards = response.xpath("//div[@class='card-wrap'][@mid]")
        if not cards:
            if page == 1 and not response.css("div.card-no-result"):
                self.listed_nothing(response, f"weibo web search for {keyword!r}")
            return
        pages = len(response.css("ul.s-scroll li"))
        if page == 1 and pages >= PAGE_CAP and end - start > timedelta(hours=1):
            middle = start + timedelta(hours=(end - start) // timedelta(hours=1) // 2)
            yield self._search(keyword, start, middle, 1)
            yield self._search(keyword, middle, end, 1)
            return
        for card in cards:
            yield from self._card(card)
        if response.css("a.next") and page < min(pages or 1, self.params.get("max_pages", PAGE_CAP)):
            yield self._search(keyword, start, end, page + 1)

    def _card(self, card: Selector) -> Iterator[Mention | Rejected]:
        mid = card.attrib.get("mid", "")
        content = card.css("div.card-feed div.content")
        repost = content.css("div.card-comment")
        original_id, original_text = "", ""
        if repost:
            liked = _MID.search(repost.css("a[action-type=feed_list_like]::attr(action-data)").get(""))
            original_id = liked.group(1) if liked else ""
            author = repost.css("div[node-type=feed_list_forwardContent] a[nick-name]::attr(nick-name)").get("")
            original_text = self._text(repost)
            if original_id:
                yield self._mention(original_id, author, original_text, repost.css("p.from"), repost, "")
        own = content.xpath("./p[@node-type='feed_list_content_full'] | ./p[@node-type='feed_list_content']")
        text = _FULL_TEXT_TAIL.sub("", text_of(own[-1:], separator="")) if own else ""
        if original_id:
            name = repost.css("div[node-type=feed_list_forwardContent] a[nick-name]::attr(nick-name)").get("")
            text = f"{text}\n//@{name}: {original_text}"
        yield self._mention(mid, content.css("div.info a.name::attr(nick-name)").get(""), text,
                            content.xpath("./p[@class='from']"), card.css("div.card-act"), original_id)

    def _text(self, node: SelectorList[Selector]) -> str:
        full = node.css("p[node-type=feed_list_content_full]")
        return _FULL_TEXT_TAIL.sub("", text_of((full or node.css("p.txt"))[:1], separator=""))

    def _mention(self, mid: str, author: str, text: str, source_line: SelectorList[Selector],
                 counts: SelectorList[Selector],
                 original_id: str) -> Mention | Rejected:
        link = source_line.css("a::attr(href)").get("")
        shown = [text_of(counts.css(f"a[action-type={a}]")) for a in ("feed_list_forward", "feed_list_comment")]
        shown.append(text_of(counts.css("a[action-type=feed_list_like] em")))
        engagement = sum(count((_COUNT.findall(t) or ["0"])[0]) for t in shown)
        return self.mention(url=f"https:{link.split('?')[0]}" if link.startswith("//") else link.split("?")[0],
                            platform_id=mid, title="", content=text, author=author,
                            published=" ".join(text_of(source_line.css("a")[:1]).split()),
                            engagement=engagement, repost_of=self.post_key(original_id) if original_id else "")
