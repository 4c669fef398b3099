"""The demo's sample site: news as an RSS feed (UTF-8) and a forum as GBK-encoded list/detail pages,
served on 127.0.0.1 so `yuqing demo` runs the real crawl with no network.

Posts come from `sample_posts.json` (fictional institutions; `hours_ago` relative to when the site
starts). The forum shows times as forums do ("25分钟前", "今天 10:05", "昨天 21:30", full dates
for older posts), rendered at request time, so the crawler's date parsing is exercised too.
"""
from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

SITE_TZ = ZoneInfo("Asia/Shanghai")
POSTS_PER_PAGE = 10
FORUM_ENCODING = "gbk"

INSTITUTIONS: list[dict[str, Any]] = [
    {"name": "锦程银行", "aliases": ["锦程", "锦程银行信用卡中心", "锦程消费金融", "锦程信用卡"],
     "exclude": ["锦程路", "锦程大道"]},
    {"name": "华岳保险", "aliases": ["华岳人寿"]},
]


@dataclass(frozen=True)
class SamplePost:
    number: int
    channel: str  # "rss" or "html"
    published: datetime
    author: str
    title: str
    content: str


def load_posts(now: datetime) -> list[SamplePost]:
    """The bundled posts, newest first, dated relative to `now`."""
    raw = json.loads(resources.files("app.demo").joinpath("sample_posts.json").read_text(encoding="utf-8"))
    posts = [SamplePost(n, p["channel"], (now - timedelta(hours=p["hours_ago"])).replace(second=0, microsecond=0),
                        p["author"], p["title"], p["content"])
             for n, p in enumerate(raw["posts"], 1)]
    return sorted(posts, key=lambda p: p.published, reverse=True)


def forum_time(published: datetime, now: datetime) -> str:
    """How a Chinese forum shows a post time."""
    local, today = published.astimezone(SITE_TZ), now.astimezone(SITE_TZ)
    age = now - published
    if age < timedelta(hours=1):
        return f"{max(1, int(age.total_seconds() // 60))}分钟前"
    if local.date() == today.date():
        return f"今天 {local:%H:%M}"
    if local.date() == today.date() - timedelta(days=1):
        return f"昨天 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def demo_config(base_url: str) -> dict[str, Any]:
    """`institutions` and `sources` for a config that crawls the demo site at `base_url`."""
    base = base_url.rstrip("/")
    return {
        "institutions": INSTITUTIONS,
        "sources": [
            {"name": "demo-news", "type": "rss", "schedule": "2m", "params": {"url": f"{base}/news/rss.xml"}},
            {"name": "demo-forum", "type": "html", "schedule": "2m", "params": {
                "start_urls": [f"{base}/bbs/list.html"],
                "list_item": "ul.threads li",
                "link": "a.subject::attr(href)",
                "next_page": "a.next::attr(href)",
                "detail": {"title": "h1.subject::text", "content": "div.message",
                           "author": "div.meta span.author::text", "published_at": "div.meta span.time::text"},
                "max_pages": 10,
            }},
        ],
    }


class _Pages:
    """Renders the site for one request time."""

    def __init__(self, posts: list[SamplePost], base: str) -> None:
        self.posts, self.base = posts, base

    def of(self, channel: str) -> list[SamplePost]:
        return [p for p in self.posts if p.channel == channel]

    def rss(self) -> bytes:
        items = "".join(
            f"<item><title>{html.escape(p.title)}</title><link>{self.base}/news/article/{p.number}.html</link>"
            f"<guid>{self.base}/news/article/{p.number}.html</guid><dc:creator>{html.escape(p.author)}</dc:creator>"
            f"<pubDate>{format_datetime(p.published.astimezone(SITE_TZ))}</pubDate>"
            f"<description><![CDATA[<p>{html.escape(p.content)}</p>]]></description></item>\n"
            for p in self.of("rss"))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
                f"<title>滨江财经快讯</title><link>{self.base}/news/</link><description>示例新闻源（虚构）</description>"
                f"<language>zh-cn</language>\n{items}</channel></rss>\n").encode()

    def article(self, number: int) -> bytes | None:
        post = next((p for p in self.of("rss") if p.number == number), None)
        if post is None:
            return None
        return _html_page(post.title, f"<h1>{html.escape(post.title)}</h1><p>{html.escape(post.content)}</p>",
                          "utf-8")

    def forum_list(self, page: int, now: datetime) -> bytes | None:
        posts = self.of("html")
        pages = max(1, -(-len(posts) // POSTS_PER_PAGE))
        if not 1 <= page <= pages:
            return None
        rows = "".join(
            f'<li><a class="subject" href="post/{p.number}.html">{html.escape(p.title)}</a>'
            f' <span class="author">{html.escape(p.author)}</span>'
            f' <span class="time">{forum_time(p.published, now)}</span></li>\n'
            for p in posts[(page - 1) * POSTS_PER_PAGE: page * POSTS_PER_PAGE])
        pager = f'<a class="next" href="list-{page + 1}.html">下一页</a>' if page < pages else ""
        return _html_page(f"理财交流区 - 第{page}页", f'<ul class="threads">\n{rows}</ul><div class="pg">{pager}</div>',
                          FORUM_ENCODING)

    def forum_post(self, number: int, now: datetime) -> bytes | None:
        post = next((p for p in self.of("html") if p.number == number), None)
        if post is None:
            return None
        body = (f'<h1 class="subject">{html.escape(post.title)}</h1>'
                f'<div class="meta">楼主：<span class="author">{html.escape(post.author)}</span> '
                f'发表于 <span class="time">{forum_time(post.published, now)}</span></div>'
                f'<div class="message"><p>{html.escape(post.content)}</p></div>')
        return _html_page(post.title, body, FORUM_ENCODING)


def _html_page(title: str, body: str, encoding: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" content="text/html; charset={encoding}">'
            f"<title>{html.escape(title)} - 滨江论坛（示例）</title></head><body>{body}</body></html>\n"
            ).encode(encoding)


Responder = Callable[[str], tuple[int, str, bytes]]


def serve_local(respond: Responder) -> ThreadingHTTPServer:
    """Serve GET requests on 127.0.0.1 (a free port) from a background thread: `respond(path)`
    (path with query) gives (status, Content-Type, body). Stop with shutdown() + server_close()."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass  # callers report what matters to them

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="local-site", daemon=True).start()
    return server


class DemoSite:
    """The sample site on 127.0.0.1 (a free port), in a background thread."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now
        self._server: ThreadingHTTPServer | None = None
        self.posts: list[SamplePost] = []

    def start(self) -> str:
        """Serve the site; returns its base URL (http://127.0.0.1:PORT)."""
        self.posts = load_posts(self._now or datetime.now(SITE_TZ))
        self._server = serve_local(lambda path: self.respond(path.split("?", 1)[0]))
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the demo site is not running (call start() first)")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(status, Content-Type, body) for a request path."""
        now = datetime.now(SITE_TZ)
        pages = _Pages(self.posts, self.base_url)
        forum_type = f"text/html; charset={FORUM_ENCODING.upper()}"
        body: bytes | None = None
        content_type = "text/html; charset=utf-8"
        if path == "/robots.txt":
            body, content_type = b"User-agent: *\nAllow: /\n", "text/plain"
        elif path == "/news/rss.xml":
            body, content_type = pages.rss(), "application/rss+xml; charset=utf-8"
        elif path.startswith("/news/article/") and path.endswith(".html"):
            body = _maybe(pages.article, path[len("/news/article/"):-5])
        elif path == "/bbs/list.html":
            body, content_type = pages.forum_list(1, now), forum_type
        elif path.startswith("/bbs/list-") and path.endswith(".html"):
            body, content_type = _maybe(lambda n: pages.forum_list(n, now), path[len("/bbs/list-"):-5]), forum_type
        elif path.startswith("/bbs/post/") and path.endswith(".html"):
            body, content_type = _maybe(lambda n: pages.forum_post(n, now), path[len("/bbs/post/"):-5]), forum_type
        elif path == "/":
            links = '<a href="/news/rss.xml">新闻RSS</a> <a href="/bbs/list.html">论坛</a>'
            body = _html_page("示例站点", links, "utf-8")
        if body is None:
            return 404, "text/html; charset=utf-8", _html_page("404", "<h1>404 Not Found</h1>", "utf-8")
        return 200, content_type, body

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _maybe(render: Callable[[int], bytes | None], number: str) -> bytes | None:
    """A numbered page, or None (→ 404) when the number is not a number."""
    return render(int(number)) if number.isdigit() else None
