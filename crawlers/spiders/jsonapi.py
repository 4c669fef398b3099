"""Any JSON API described in config with JMESPath: params `url` or `urls`, `items` (the expression
giving the list of posts in a reply), `fields` (for each Mention field — `url`, `title`, `content`,
`author`, `published_at`, `id`, `engagement` — an expression evaluated on one post), optional
`next` (an expression giving the next page's URL), `max_pages` and `platform` (whose post ids `id`
gives: by default `json:SOURCE`, so two APIs that number their posts alike never share an id). A
relative `url` is resolved against the reply's URL; a post without a `published_at` is rejected
with its reason."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jmespath
import scrapy
from scrapy.http import Response

from crawlers.items import Rejected
from crawlers.spiders.base import SourceError, SourceSpider
from crawlers.text import clean_html, count
from yuqing.model import Mention


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class JsonApiSpider(SourceSpider):
    name = "json"
    source_type = "json"

    @property
    def post_platform(self) -> str:
        # Two APIs may number their posts alike: the ids are the source's own, not the type's.
        return str(self.params.get("platform") or f"json:{self.source.name}")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.configured_urls():
            yield scrapy.Request(url, callback=self.parse, cb_kwargs={"page": 1})

    def parse(self, response: Response, page: int = 1, **kwargs: Any) -> Iterator[Mention | Rejected | scrapy.Request]:
        try:
            reply = json.loads(response.text)
        except (ValueError, AttributeError):
            raise SourceError(f"{response.url} did not return JSON") from None
        posts = jmespath.search(self.params["items"], reply)
        if not isinstance(posts, list):
            raise SourceError(f"items expression {self.params['items']!r} gives no list at {response.url}")
        if not posts and page == 1:
            self.listed_nothing(response, "API reply")
        fields: dict[str, str] = self.params["fields"]
        for post in posts:
            values = {name: jmespath.search(expression, post) for name, expression in fields.items()}
            link = _text(values.get("url"))
            yield self.mention(url=response.urljoin(link) if link else "", platform_id=_text(values.get("id")),
                               title=clean_html(_text(values.get("title"))),
                               content=clean_html(_text(values.get("content"))),
                               author=_text(values.get("author")), published=_text(values.get("published_at")),
                               engagement=count(values.get("engagement")))
        following = jmespath.search(self.params["next"], reply) if "next" in self.params else None
        if posts and following and page < self.max_pages:
            yield scrapy.Request(response.urljoin(str(following)), callback=self.parse, cb_kwargs={"page": page + 1})
