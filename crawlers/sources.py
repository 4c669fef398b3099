"""Source types: which spider crawls each, and which `params` each accepts.

Validation runs at start-up (the CLI calls `validate_sources`) and imports no Scrapy, so a typo in
a selector or URL is reported before anything is scheduled, naming the file and the key.
"""
from __future__ import annotations

import codecs
import importlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from yuqing.config import Config, ConfigError, SourceConfig

if TYPE_CHECKING:
    from crawlers.spiders.base import SourceSpider

# The one place that maps a source type to the spider that crawls it (dotted paths: importing them
# means importing Scrapy, which validation avoids).
SPIDERS: dict[str, str] = {
    "rss": "crawlers.spiders.feed.FeedSpider",
    "html": "crawlers.spiders.html.HtmlSpider",
    "weibo": "crawlers.spiders.weibo.WeiboSpider",
    "weibo-web": "crawlers.spiders.weibo_web.WeiboWebSpider",
    "tieba": "crawlers.spiders.tieba.TiebaSpider",
    "guba": "crawlers.spiders.guba.GubaSpider",
    "heimao": "crawlers.spiders.heimao.HeimaoSpider",
    "json": "crawlers.spiders.jsonapi.JsonApiSpider",
    "sitemap": "crawlers.spiders.article.SitemapSpider",
    "article": "crawlers.spiders.article.ArticleSpider",
}

# The real sites; each platform spider accepts `base_url` so tests (and mirrors) can stand in.
DEFAULT_BASE_URLS: dict[str, str] = {
    "weibo": "https://m.weibo.cn",
    "weibo-web": "https://s.weibo.com",
    "tieba": "https://tieba.baidu.com",
    "guba": "https://guba.eastmoney.com",
    "heimao": "https://tousu.sina.com.cn",
}


def spider_class(source_type: str) -> type[SourceSpider]:
    module, _, name = SPIDERS[source_type].rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class _Check:
    """Checks one source's params; every error names `sources[i].params.KEY`."""

    def __init__(self, config: Config, index: int, params: Mapping[str, Any]) -> None:
        self.where, self.index, self.params = config.path, index, params

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.where, f"sources[{self.index}].params.{key}", problem)

    def url(self, key: str, value: Any) -> str:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail(key, f"{value!r} is not an http(s) URL")
        return str(value)

    def urls(self, key: str) -> list[str]:
        value = self.params[key]
        if isinstance(value, str):
            return [self.url(key, value)]
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a URL or a non-empty list of URLs")
        return [self.url(f"{key}[{i}]", u) for i, u in enumerate(value)]

    def words(self, key: str) -> list[str]:
        value = self.params[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(w, str) and w.strip() for w in items):
            raise self.fail(key, "must be a word or a non-empty list of non-empty words")
        return [w.strip() for w in items]

    def positive_int(self, key: str) -> int:
        value = self.params[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"must be a whole number of at least 1, got {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        if not isinstance(self.params[key], bool):
            raise self.fail(key, f"must be true or false, got {self.params[key]!r}")
        return bool(self.params[key])

    def selector(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a CSS selector or an XPath expression")
        try:
            compile_selector(value)
        except ValueError as e:
            raise self.fail(key, str(e)) from None
        return value

    def encoding(self, key: str) -> str:
        try:
            return codecs.lookup(str(self.params[key])).name
        except LookupError:
            raise self.fail(key, f"unknown text encoding {self.params[key]!r} (e.g. gbk, gb18030, utf-8)") from None

    def headers(self, key: str) -> dict[str, str]:
        value = self.params[key]
        if not isinstance(value, dict):
            raise self.fail(key, "must map header names to values, e.g. {Referer: 'https://m.weibo.cn/'}")
        for name, text in value.items():
            # Neither a bad name nor a value is echoed: either may hold a pasted token.
            if not isinstance(name, str) or not HTTP_TOKEN.match(name):
                raise self.fail(key, "has a key that is not an HTTP header name (letters, digits and -, "
                                     "e.g. Referer)")
            if name.lower() == "cookie":
                raise self.fail(f"{key}.{name}", "cookies are secrets and stay out of the config file: put the "
                                                 "value in an environment variable and name it with `cookie_env`")
            if name.lower() in ("authorization", "proxy-authorization"):
                raise self.fail(f"{key}.{name}", "credentials are secrets and stay out of the config file; "
                                                 "these public sites need at most a cookie (`cookie_env`)")
            if not isinstance(text, str):
                raise self.fail(f"{key}.{name}", f"must be a string (quote it in YAML), got a {type(text).__name__}")
            if any(c in text for c in "\r\n\0"):
                raise self.fail(f"{key}.{name}", "must be one line")
        return value

    def env_name(self, key: str) -> str:
        value = self.params[key]
        # Not echoed: a user who pasted the cookie itself here would see it in the error.
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            raise self.fail(key, "must be the name of an environment variable that holds the value "
                                 "(letters, digits and _, e.g. YUQING_WEIBO_COOKIE), not the value itself")
        return value

    def hour(self, key: str) -> str:
        value = self.params[key]
        if not isinstance(value, str) or not _HOUR.match(value):
            raise self.fail(key, f"{value!r} is not an hour in s.weibo.com's form YYYY-MM-DD-H (e.g. 2026-11-26-8)")
        return value

    def platform(self, key: str) -> str:
        value = self.params[key]
        if not isinstance(value, str) or not _PLATFORM.match(value):
            raise self.fail(key, f"{value!r} is not a platform name (letters, digits and . _ : -, e.g. json)")
        return value

    def date_format(self, key: str) -> str:
        value = self.params[key]
        if not isinstance(value, str) or "%" not in value:
            raise self.fail(key, f"{value!r} is not a strptime format (e.g. '%Y年%m月%d日 %H:%M')")
        return value


# A header or cookie name (an RFC 9110 token).
HTTP_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}-(1?\d|2[0-3])$")
_PLATFORM = re.compile(r"^[\w.:-]+$", re.ASCII)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def compile_selector(text: str) -> str:
    """A selector as XPath: XPath as written (starting with '/', '(' or 'xpath:'), else CSS with
    parsel's ::text / ::attr(name) extensions. Raises ValueError naming the problem."""
    from cssselect import SelectorError
    from lxml import etree
    from parsel.csstranslator import css2xpath

    text = text.strip()
    if text.startswith("xpath:"):
        xpath = text[len("xpath:"):].strip()
    elif text.startswith(("/", "(", "./")):
        xpath = text
    else:
        try:
            xpath = css2xpath(text)
        except (SelectorError, ValueError) as e:
            raise ValueError(f"{text!r} is not a valid CSS selector: {e}") from None
    try:
        etree.XPath(xpath)
    except etree.XPathSyntaxError as e:
        raise ValueError(f"{text!r} is not a valid XPath expression: {e}") from None
    return xpath


def _rss(c: _Check) -> None:
    present = [k for k in ("url", "urls") if k in c.params]
    if len(present) != 1:
        raise c.fail("url", "give exactly one of `url` (one feed) or `urls` (a list of feeds)")
    c.urls(present[0])


_DETAIL_FIELDS = ("title", "content", "author", "published_at")


def _html(c: _Check) -> None:
    for key in ("start_urls", "link", "detail"):
        if key not in c.params:
            raise c.fail(key, "is required for an html source")
    c.urls("start_urls")
    for key in ("list_item", "link", "next_page"):
        if key in c.params:
            c.selector(key, c.params[key])
    detail = c.params["detail"]
    if not isinstance(detail, dict):
        raise c.fail("detail", f"must map fields ({', '.join(_DETAIL_FIELDS)}) to selectors")
    unknown = sorted(set(detail) - set(_DETAIL_FIELDS))
    if unknown:
        raise c.fail(f"detail.{unknown[0]}", f"unknown field (allowed: {', '.join(_DETAIL_FIELDS)})")
    if "title" not in detail and "content" not in detail:
        raise c.fail("detail", "needs a selector for at least one of title, content")
    if "published_at" not in detail:
        raise c.fail("detail.published_at", "is required: a post without a date cannot be placed in time")
    for name, value in detail.items():
        c.selector(f"detail.{name}", value)
    if "encoding" in c.params:
        c.encoding("encoding")
    if "date_format" in c.params:
        c.date_format("date_format")


_JSON_FIELDS = ("url", "title", "content", "author", "published_at", "id", "engagement")


def _jmespath(c: _Check, key: str, value: Any) -> None:
    import jmespath
    from jmespath.exceptions import JMESPathError

    if not isinstance(value, str) or not value.strip():
        raise c.fail(key, "must be a JMESPath expression, e.g. data.items")
    try:
        jmespath.compile(value)
    except JMESPathError as e:
        raise c.fail(key, f"{value!r} is not a valid JMESPath expression: {e}") from None


def _json(c: _Check) -> None:
    _rss(c)
    for key in ("items", "fields"):
        if key not in c.params:
            raise c.fail(key, "is required for a json source")
    _jmespath(c, "items", c.params["items"])
    fields = c.params["fields"]
    if not isinstance(fields, dict) or "url" not in fields or "published_at" not in fields:
        raise c.fail("fields", f"must map Mention fields ({', '.join(_JSON_FIELDS)}) to JMESPath expressions, "
                               "with at least url and published_at")
    for name, expression in fields.items():
        if name not in _JSON_FIELDS:
            raise c.fail(f"fields.{name}", f"unknown field (allowed: {', '.join(_JSON_FIELDS)})")
        _jmespath(c, f"fields.{name}", expression)
    if "next" in c.params:
        _jmespath(c, "next", c.params["next"])


def _article(c: _Check) -> None:
    if "urls" not in c.params:
        raise c.fail("urls", "is required: the article pages to read")
    c.urls("urls")


def _sitemap(c: _Check) -> None:
    if "url" not in c.params:
        raise c.fail("url", "is required: the sitemap (or sitemap index) URL")
    allow = c.params.get("allow", "")
    try:
        re.compile(allow) if isinstance(allow, str) else None
    except re.error as e:
        raise c.fail("allow", f"{allow!r} is not a regular expression: {e}") from None
    if not isinstance(allow, str):
        raise c.fail("allow", "must be a regular expression the page URLs must match")


_BOARD_CODE = re.compile(r"^[0-9A-Za-z]{2,12}$")


def _guba(c: _Check) -> None:
    if "boards" not in c.params:
        raise c.fail("boards", "is required: stock codes, e.g. ['600036'] or {'600036': '招商银行'}")
    boards = c.params["boards"]
    codes = list(boards) if isinstance(boards, (list, dict)) else [boards]
    if not codes or not all(isinstance(code, str) and _BOARD_CODE.match(code) for code in codes):
        raise c.fail("boards", f"must be stock codes such as '600036' (quote them in YAML), got {boards!r}")
    if isinstance(boards, dict) and not all(isinstance(n, str) and n.strip() for n in boards.values()):
        raise c.fail("boards", "maps a stock code to the institution the board is about")


# Every type takes these: extra request headers, and where the source's Cookie comes from (see
# crawlers.middlewares.SourceHeaders).
_REQUEST = {"headers": "headers", "cookie_env": "env_name"}
_COMMON = {"base_url": "url", "max_pages": "positive_int", **_REQUEST}
_PLATFORM_PARAMS: dict[str, dict[str, str]] = {
    "weibo": {"keywords": "words", **_COMMON},
    "weibo-web": {"keywords": "words", "window_hours": "positive_int", "until": "hour", **_COMMON},
    "tieba": {"forums": "words", "keywords": "words", "fetch_threads": "boolean", **_COMMON},
    "guba": {"boards": "", "fetch_posts": "boolean", "caifuhao_base_url": "url", **_COMMON},
    "heimao": {"keywords": "words", "page_size": "positive_int", "fetch_details": "boolean", **_COMMON},
    "rss": {"url": "", "urls": "", **_REQUEST},
    "json": {"url": "", "urls": "", "items": "", "fields": "", "next": "", "max_pages": "positive_int",
             "platform": "platform", **_REQUEST},
    "article": {"urls": "", **_REQUEST},
    "sitemap": {"url": "url", "allow": "", "max_pages": "positive_int", **_REQUEST},
    "html": {"start_urls": "", "list_item": "", "link": "", "next_page": "", "detail": "",
             "encoding": "", "date_format": "", "max_pages": "positive_int", **_REQUEST},
}
_TYPE_CHECKS: dict[str, Callable[[_Check], None]] = {"rss": _rss, "html": _html, "guba": _guba, "json": _json,
                                                     "article": _article, "sitemap": _sitemap}


def validate_source(config: Config, index: int, source: SourceConfig) -> None:
    if source.type not in SPIDERS:
        raise ConfigError(config.path, f"sources[{index}].type",
                          f"unknown source type {source.type!r} (known: {', '.join(SPIDERS)})")
    c = _Check(config, index, source.params)
    allowed = _PLATFORM_PARAMS[source.type]
    for key, value in source.params.items():
        if key not in allowed:
            raise c.fail(str(key), f"unknown parameter for a {source.type} source "
                                   f"(allowed: {', '.join(sorted(allowed))})")
        kind = allowed[key]
        if kind == "url":
            c.url(key, value)
        elif kind:
            getattr(c, kind)(key)
    if source.type in _TYPE_CHECKS:
        _TYPE_CHECKS[source.type](c)
    if source.type in ("weibo", "weibo-web", "heimao", "tieba") and not config.institutions:
        key = "forums" if source.type == "tieba" and "keywords" not in source.params else "keywords"
        if key not in source.params:
            raise c.fail(key, f"is required when no institutions are configured (a {source.type} "
                              "source searches for institution names by default)")
    if source.type == "guba" and isinstance(source.params["boards"], dict):
        known = {i.name for i in config.institutions}
        for code, name in source.params["boards"].items():
            if known and name not in known:
                raise c.fail(f"boards.{code}", f"{name!r} is not a configured institution "
                                               f"(known: {', '.join(sorted(known))})")


def validate_sources(config: Config) -> None:
    """Check every source's type and params; raise ConfigError naming the first problem."""
    for index, source in enumerate(config.sources):
        validate_source(config, index, source)


def search_words(config: Config, source: SourceConfig, key: str) -> list[str]:
    """The words a platform search uses: the source's own list, else every institution name and alias."""
    if key in source.params:
        value = source.params[key]
        return [value] if isinstance(value, str) else list(value)
    words: list[str] = []
    for institution in config.institutions:
        words.extend(n for n in institution.names if n not in words)
    return words
