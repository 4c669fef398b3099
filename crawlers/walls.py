"""Walls: answers that look like a page but stand between us and the posts (a verification page,
a captcha, a login or visitor page, an HTTP 403). Each is recognised once, here, for every source,
so a wall is reported as `blocked` or `login-required` with its reason and URL instead of as a
healthy source that found nothing.

The source states: `ok`; `degraded` (some fetches failed or met a wall, or a list page listed
nothing, but posts came in); `blocked` and `login-required` (nothing came in: a wall stood in the
way); `failing` (nothing came in, and the reason says why). `SourceHealth` decides a crawl's
state from what it saw (see `decide_state`).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse

from crawlers.signals import source_state
from yuqing.datadir import HEALTH_STATES, WALL_STATES

log = logging.getLogger(__name__)

# The states are the health record's (`yuqing.datadir`), named here for the spiders and this module.
STATES = HEALTH_STATES
OK, DEGRADED, BLOCKED, LOGIN_REQUIRED, FAILING = HEALTH_STATES
WALLS = WALL_STATES


@dataclass(frozen=True)
class Wall:
    state: str  # BLOCKED or LOGIN_REQUIRED
    reason: str


# HTTP statuses that mean "not you, not like this" rather than "no such page". Weibo answers 432
# to a request without a visitor cookie.
_STATUS_WALLS = {
    401: Wall(LOGIN_REQUIRED, "HTTP 401: the site wants a login"),
    403: Wall(BLOCKED, "HTTP 403: the site refuses the crawler (a wall or a ban)"),
    412: Wall(BLOCKED, "HTTP 412: the site's anti-crawler check refused the request"),
    429: Wall(BLOCKED, "HTTP 429: too many requests; the site is throttling the crawler"),
    432: Wall(LOGIN_REQUIRED, "HTTP 432: Weibo wants a visitor or login cookie"),
}
# Hosts and paths that are login or visitor pages, whatever page we asked for.
_LOGIN_URLS = re.compile(r"(passport\.weibo\.c(n|om)/(signin|visitor|sso)|login\.sina\.com\.cn|passport\.baidu\.com"
                         r"|/(login|signin)(\.php|\.html?)?(/|\?|$))", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# Only the page title is read, and only a title that is nothing but the wall's name (perhaps with
# the site's name after a separator): post text, and post titles such as "收不到验证码怎么办" or
# "登录App闪退", talk about codes and logins without being walls.
_ALONE = r"\s*($|[-_|—｜:：])"
_TITLE_WALLS: tuple[tuple[re.Pattern[str], Wall], ...] = (
    (re.compile("^百度安全验证"), Wall(BLOCKED, "Baidu security verification page (百度安全验证)")),
    (re.compile("^Sina Visitor System", re.IGNORECASE),
     Wall(LOGIN_REQUIRED, "Sina Visitor System page: the site wants a visitor or login cookie")),
    (re.compile(r"^\s*(安全验证|人机验证|滑块验证|验证码|访问验证|访问过于频繁|captcha|are you a robot\??|access denied"
                r"|attention required!?|just a moment\.*)" + _ALONE, re.IGNORECASE),
     Wall(BLOCKED, "verification or captcha page")),
    (re.compile(r"^\s*((用户|账号)?登录|请先登录|sign in|log in)" + _ALONE, re.IGNORECASE),
     Wall(LOGIN_REQUIRED, "login page")),
)
_BODY_WALLS = (
    ("wappass.baidu.com/static/captcha", Wall(BLOCKED, "Baidu security verification page (百度安全验证)")),
)


def recognise(response: Response) -> Wall | None:
    """The wall this response is, or None when it is an answer (or an ordinary error)."""
    if response.status in _STATUS_WALLS:
        return _STATUS_WALLS[response.status]
    if _LOGIN_URLS.search(response.url):
        return Wall(LOGIN_REQUIRED, "redirected to a login page")
    if not isinstance(response, TextResponse):
        return None
    head = response.text[:20_000]
    if head.lstrip().startswith("{"):
        return _json_wall(response.text)
    for marker, wall in _BODY_WALLS:
        if marker in head:
            return wall
    title = _TITLE.search(head)
    if title:
        for pattern, wall in _TITLE_WALLS:
            if pattern.search(title.group(1)):
                return wall
    return None


def _json_wall(text: str) -> Wall | None:
    """Weibo's `{"ok": -100, "url": "https://passport.weibo.cn/signin/..."}`: not logged in."""
    try:
        reply = json.loads(text)
    except ValueError:
        return None
    if isinstance(reply, dict) and reply.get("ok") == -100:
        where = str(reply.get("url") or "")
        return Wall(LOGIN_REQUIRED, "the API answered ok=-100 (not logged in)" + (f", sign-in at {where}" if where
                                                                               else ""))
    return None


class WallDetector:
    """Downloader middleware: a response that is a wall is reported (`source_state` signal) and goes
    no further, so no spider parses a verification page as "no posts here". A post page behind a
    wall still reaches its request's errback (the platform spiders then keep what the list showed)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WallDetector:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if urlsplit(request.url).path == "/robots.txt":
            return response
        wall = recognise(response)
        if wall is None:
            return response
        log.warning("%s: %s", response.url, wall.reason)
        self.crawler.signals.send_catch_log(source_state, state=wall.state, reason=wall.reason, url=response.url)
        raise IgnoreRequest(f"{wall.reason} ({response.url})")


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str = ""
    url: str = ""


def decide_state(marks: list[Verdict], problems: list[Verdict], *, scraped: int, rejected: int) -> Verdict:
    """A crawl's state. When no post came in: the first wall (`blocked`, `login-required`), else
    `failing` with the first problem. When posts came in but something went wrong — a wall on some
    pages, a lost post page, a list page that listed nothing — `degraded`, naming a wall first if
    there was one (so one lost post page never fails a source whose posts were stored).
    `marks` are what `source_state` signals said, `problems` the errors."""
    walls = [m for m in marks if m.state in WALLS]
    trouble = [*walls, *problems, *(m for m in marks if m.state not in WALLS)]
    if scraped and rejected == scraped:
        trouble.append(Verdict(FAILING, f"every one of the {scraped} posts found was rejected (see DATA_DIR/rejects)"))
    if not trouble:
        return Verdict(OK)
    first = trouble[0]
    if not scraped or rejected == scraped:
        return first if first.state in WALLS else Verdict(FAILING, first.reason, first.url)
    return Verdict(DEGRADED, first.reason, first.url)
