"""黑猫投诉 (tousu.sina.com.cn) complaint search API: `/api/index/s?ts&rs&signature&keywords&page_size&page`.
The site's own script signs each query with SHA-256 over the sorted [ts, rs, salt, keywords,
page_size, page]; we do the same. A reply is `{"result": {"status": {"code": 0}, "data":
{"lists": [{"main": {...}, "author": {...}}], "pager": {...}}}}`.

Each complaint's page (`/complaint/view/SN/`, `fetch_details`, default true) then gives the whole
complaint and its progress: `div.ts-d-question` (title `h1.article`, `ul.ts-q-list` of labelled
fields), `div.ts-d-steplist` of `div.ts-d-item` steps (who, what, when, and the text — the
complainant's full account, the company's replies). When a page cannot be fetched, the search
entry is kept."""
from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.spiders.html import text_of
from crawlers.text import clean_html, count
from yuqing.model import Mention

# The constant the site's search script mixes into the signature.
SIGNATURE_SALT = "$d6eb7ff91ee257475%"
_RANDOM_CHARS = string.ascii_letters + string.digits


def signed_query(keyword: str, page: int, page_size: int, now_ms: int | None = None) -> dict[str, str]:
    ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
    rs = "".join(secrets.choice(_RANDOM_CHARS) for _ in range(16))
    parts = [ts, rs, SIGNATURE_SALT, keyword, str(page_size), str(page)]
    signature = hashlib.sha256("".join(sorted(parts)).encode("utf-8")).hexdigest()
    return {"ts": ts, "rs": rs, "signature": signature, "keywords": keyword,
            "page_size": str(page_size), "page": str(page)}


class HeimaoSpider(SourceSpider):
    name = "heimao"
    source_type = "heimao"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for keyword in self.search_words("keywords"):
            yield self._page(keyword, 1)

    def _page(self, keyword: str, page: int) -> scrapy.Request:
        query = urlencode(signed_query(keyword, page, self.params.get("page_size", 10)))
        return scrapy.Request(f"{self.base_url}/api/index/s?{query}", callback=self.parse,
                              headers={"Accept": "application/json, text/javascript, */*; q=0.01",
                                       "X-Requested-With": "XMLHttpRequest",
                                       "Referer": f"{self.base_url}/index/search/?keywords={keyword}&t=1"},
                              cb_kwargs={"keyword": keyword, "page": page})

    def parse(self, response: Response, keyword: str = "", page: int = 1,
              **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        try:
            result = json.loads(response.text)["result"]
            status = result.get("status") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SourceError(f"heimao search for {keyword!r} at {response.url} did not return the expected "
                              "JSON (the site may want a login cookie)") from None
        if status.get("code") != 0:
            raise SourceError(f"heimao search for {keyword!r} failed at {response.url}: "
                              f"{status.get('msg') or status}")
        data = result.get("data") or {}
        entries = data.get("lists") or []
        if not entries and page == 1:
            self.listed_nothing(response, f"heimao search for {keyword!r}")
        for entry in entries:
            listed = {"main": entry.get("main") or {}, "author": entry.get("author") or {}}
            sn = str(listed["main"].get("sn") or "")
            if sn and self.params.get("fetch_details", True):
                yield scrapy.Request(f"{self.base_url}/complaint/view/{sn}/", callback=self.parse_detail,
                                     errback=self.keep_listing, cb_kwargs={"listed": listed})
            else:
                yield self.from_listing(listed)
        pager = data.get("pager") or {}
        if page < min(count(pager.get("page_amount")), self.max_pages):
            yield self._page(keyword, page + 1)

    def from_listing(self, listed: dict[str, Any]) -> Mention | Rejected:
        main, author = listed["main"], listed["author"]
        url = str(main.get("url") or "")
        lines = [("投诉对象", main.get("cotitle")), ("投诉问题", main.get("issue")),
                 ("投诉要求", main.get("appeal")), ("涉诉金额", main.get("cost")),
                 ("投诉进度", main.get("status"))]
        details = "\n".join(f"{label}：{clean_html(str(value))}" for label, value in lines if value)
        return self.mention(
            url=f"https:{url}" if url.startswith("//") else url,
            platform_id=str(main.get("sn") or ""),
            title=listed.get("title") or clean_html(main.get("title")),
            content=listed.get("content") or "\n".join(p for p in (clean_html(main.get("summary")), details) if p),
            author=clean_html(author.get("title")),
            published=str(main.get("timestamp") or ""),
            engagement=count(main.get("upvote_amount")) + count(main.get("comment_amount")),
        )

    def parse_detail(self, response: Response, listed: dict[str, Any], **kwargs: Any) -> Iterator[Mention | Rejected]:
        question = response.css("div.ts-d-question")
        fields = []
        for item in question.css("ul.ts-q-list > li"):
            label = text_of(item.css("label")).rstrip("：:")
            value = " ".join(t.strip() for t in item.xpath("./text() | ./*[not(self::label)]//text()").getall()
                             if t.strip())
            if label and value and label != "投诉编号":
                fields.append(f"{label}：{value}")
        steps = []
        for step in response.css("div.ts-d-steplist div.ts-d-item"):
            who, what, when = (text_of(step.css(f"span.{c}")) for c in ("u-name", "u-status", "u-date"))
            said = text_of(step.css("div.ts-reply p"), separator="\n")
            steps.append((f"{when} {who} {what}".strip(), said))
        account = steps[0][1] if steps else ""
        progress = "\n".join(f"{head}：{said}" if said else head for head, said in steps[1:])
        content = "\n".join(p for p in (account, "\n".join(fields), progress and f"处理进度：\n{progress}") if p)
        title = text_of(question.css("h1.article"))
        yield self.from_listing(dict(listed, title=title, content=content))
