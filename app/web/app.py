"""The web app: a JSON API under `/api/` and server-rendered Chinese pages built from that same API.

Every page handler calls the function its API twin calls and renders that JSON through a Jinja2
template (autoescaped), so what a page shows is what the API answers. One middleware decides,
before any route runs, who may see what: only the login page, its static files and the health
check answer without a session (the API with 401, pages with a redirect to the login page); every
state-changing request needs the session's CSRF token; a Content-Security-Policy forbids inline
script. Other modules add their routes to this base (`app.web.create_app`): alerts and silences
(`alert_routes`), cases (`case_routes`).
"""
from __future__ import annotations

import dataclasses
import hmac
import math
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import yaml
from cachetools import TTLCache
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, TimestampSigner
from markupsafe import Markup, escape
from pydantic import BaseModel, Field

from alerts.lifecycle import LifecycleError
from app.services import Services
from app.status import source_health
from app.web.saved_alerts import rule_mapping
from app.web.state import ROLES, Session, User, UserError, WebState
from yuqing import cases
from yuqing.alertstore import Conflict
from yuqing.alertstore.model import CaseQuery
from yuqing.cases import CaseError
from yuqing.config import Config, ConfigError
from yuqing.corrections import CorrectionError, correct
from yuqing.model import Mention
from yuqing.query import QuerySyntaxError, parse
from yuqing.search import SearchInput, build_request, parse_when, result_json
from yuqing.storage import SearchRequest, StoreError

HERE = Path(__file__).parent
COOKIE = "yuqing_session"
CSRF_HEADER = "X-CSRF-Token"
PAGE_SIZE = 20
MAX_OFFSET_PAGE = 10_000  # further by cursor only (the next-page links), which costs what page 1 does
FACET_CACHE_SECONDS, FACET_CACHE_SIZE = 30, 256
MAX_LIMIT = 1000
# Paths that answer without a session. Everything else, including unknown paths, needs one.
PUBLIC = ("/api/health", "/api/login", "/login", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}
POLARITY_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面"}
STATE_LABELS = {"ok": "正常", "degraded": "部分失败", "blocked": "被拦截", "login-required": "需要登录",
                "failing": "失败", "never crawled": "尚未抓取"}
ROLE_LABELS = {"viewer": "查看者", "analyst": "分析员", "admin": "管理员"}
ALERT_STATE_LABELS = {"firing": "告警中", "acknowledged": "已确认", "silenced": "已静默", "resolved": "已解除"}
CASE_STATUS_LABELS = {"open": "待受理", "in_progress": "处理中", "answered": "已答复", "closed": "已办结"}
MISSED_LABELS = {"accept": "超过 48 小时未受理", "answer": "超过 5 个工作日未答复"}
_MARK = re.compile(r"</?mark>")


class LoginBody(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class NewUserBody(BaseModel):
    name: str
    role: str
    password: str
    institutions: list[str] | None = None


class CorrectionBody(BaseModel):
    """The fields to correct (None: leave as it is; an empty list is a value) and why."""

    polarity: str | None = None
    institutions: list[str] | None = None
    negative_entities: list[str] | None = None
    categories: list[str] | None = None
    note: str = Field("", max_length=2000)


class UserChangeBody(BaseModel):
    role: str | None = None
    institutions: list[str] | None = None
    all_institutions: bool = False  # lift the limit (institutions: null cannot say it in a PATCH)
    disabled: bool | None = None
    password: str | None = None


# -- template filters: crawled text is hostile -----------------------------------------------------

def marked(highlight: str) -> Markup:
    """A search highlight as HTML. The store escapes the text and adds only <mark> tags; anything
    else that looks like a tag means it did not, and the whole string is escaped again."""
    if "<" in _MARK.sub("", highlight):
        return escape(highlight)
    return Markup(highlight)


def http_url(url: str | None) -> str | None:
    """The URL when it is http(s) with a host; None for javascript:, data:, relative and odd URLs."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


FIELD_LABELS = {"polarity": "情感", "institutions": "涉及机构", "negative_entities": "负面指向",
                "categories": "投诉类别", "risk": "风险"}


SORT_LABELS = {"": "默认", "relevance": "相关度", "time": "时间", "risk": "风险"}
TIMELINE_POLARITIES = ("negative", "neutral", "positive")


def timeline_interval(tz: ZoneInfo, since: str | None, until: str | None) -> str:
    """The search page timeline's bucket: hours for a range of up to three days, else days."""
    try:
        if since and until and (parse_when(until, tz, True, "request", "to")
                                - parse_when(since, tz, False, "request", "from")).days <= 3:
            return "1h"
    except ConfigError:
        pass  # the search itself reports the bad date, naming it
    return "1d"


def timeline_bars(facets: dict[str, Any] | None, width: int = 960, height: int = 120) -> dict[str, Any] | None:
    """The timeline facet as stacked SVG bars, one colour per polarity (drawn by the template; no
    script, no inline style). The last buckets when there are more than fit."""
    if not facets or not facets["timeline"]:
        return None
    buckets = facets["timeline"][-width // 4:]
    top = max(b["total"] for b in buckets) or 1
    slot = width / len(buckets)
    bars = []
    for i, b in enumerate(buckets):
        y = float(height)
        for polarity in TIMELINE_POLARITIES:
            h = b["polarity"].get(polarity, 0) / top * (height - 10)
            if h:
                y -= h
                bars.append({"x": round(i * slot, 1), "y": round(y, 1), "w": round(max(slot - 1, 1), 1),
                             "h": round(h, 1), "polarity": polarity, "start": b["start"],
                             "count": b["polarity"].get(polarity, 0)})
    return {"width": width, "height": height, "bars": bars, "first": buckets[0]["start"],
            "last": buckets[-1]["start"]}


def search_url(params: dict[str, str]) -> str:
    """The search page's URL for these parameters: the URL holds the whole search."""
    return f"/search?{urlencode(params)}" if params else "/search"


def facet_input(web: WebApp, given: SearchInput) -> SearchInput:
    """The search page's facet request: the timeline hourly for ranges up to three days, else daily."""
    return dataclasses.replace(given, facets=True, interval=timeline_interval(web.config.tz, given.since, given.until))


def facet_panel(web: WebApp, q: str, kept: dict[str, str], counts: dict[str, Any] | None) -> dict[str, Any]:
    """What `_facets.html` draws: the counts, the timeline's bars, and each value's link."""
    def with_filter(key: str, value: str) -> str:
        """This search narrowed by one facet value (a category is a field filter in the query)."""
        if key == "category":
            return search_url({**kept, "q": f"{q} category:{value}".strip()})
        return search_url({**kept, key: value})

    return {"facets": counts, "timeline": timeline_bars(counts), "with_filter": with_filter}


def _templates(tz: ZoneInfo, category_labels: dict[str, str]) -> Jinja2Templates:
    def when(value: str | float | None) -> str:
        """An ISO 8601 time or a Unix time as local 'YYYY-MM-DD HH:MM' in the configured zone."""
        if value is None or value == "":
            return "—"
        try:
            moment = datetime.fromtimestamp(value, tz) if isinstance(value, (int, float)) \
                else datetime.fromisoformat(value).astimezone(tz)
        except ValueError:
            return str(value)
        return moment.strftime("%Y-%m-%d %H:%M")

    def correction_value(name: str, value: Any) -> str:
        """A corrected field's value before or after, as the mention page shows the analysis."""
        if name == "polarity":
            return POLARITY_LABELS.get(value, "未分析")
        if name == "categories":
            return "、".join(category_labels.get(c, c) for c in value) or "—"
        if isinstance(value, list):
            return "、".join(value) or "—"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(marked=marked, http_url=http_url, when=when)
    env.globals.update(polarity_labels=POLARITY_LABELS, role_labels=ROLE_LABELS, state_labels=STATE_LABELS,
                       category_labels=category_labels, roles=ROLES, alert_state_labels=ALERT_STATE_LABELS,
                       case_status_labels=CASE_STATUS_LABELS, missed_labels=MISSED_LABELS, field_labels=FIELD_LABELS,
                       correction_value=correction_value)
    return Jinja2Templates(env=env)


# -- the app -----------------------------------------------------------------------------------

class WebApp:
    """The parts the routes need, built once per process by the application layer and passed in."""

    def __init__(self, services: Services, state: WebState) -> None:
        self.services, self.config, self.state = services, services.config, state
        self.signer = TimestampSigner(state.cookie_secret, salt="yuqing.session")
        from nlp import AnalyzerSettings

        # the configured complaint categories (code → Chinese label), as `yuqing label` checks them
        self.category_labels = AnalyzerSettings.parse(services.config.nlp).categories.labels
        self.templates = _templates(services.config.tz, self.category_labels)
        self._facet_cache: TTLCache[tuple[str, int], dict[str, Any]] = TTLCache(FACET_CACHE_SIZE, FACET_CACHE_SECONDS)
        self._facet_lock = threading.Lock()

    # sessions and cookies

    def session_of(self, request: Request) -> tuple[str, Session] | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            session_id = self.signer.unsign(raw, max_age=self.config.web.session_seconds).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        session = self.state.session(session_id)
        return (session_id, session) if session else None

    def set_cookie(self, request: Request, response: Response, session_id: str) -> None:
        secure = self.config.web.secure_cookies == "always" or request.url.scheme == "https"
        response.set_cookie(COOKIE, self.signer.sign(session_id).decode("ascii"), httponly=True, samesite="lax",
                            secure=secure, max_age=self.config.web.session_seconds, path="/")

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        """A page from its template; the template sees the session (its user, the CSRF token)."""
        session: Session | None = request.state.session
        return self.templates.TemplateResponse(request, name, {"session": session, **context},
                                               status_code=status_code)

    def now(self) -> datetime:
        return datetime.now(self.config.tz)

    def in_scope(self, user: User, institutions: list[str] | tuple[str, ...]) -> bool:
        """Whether a user limited to some institutions may see a record about `institutions`."""
        return user.institutions is None or bool(set(institutions) & set(user.institutions))

    def handlers(self, institution: str) -> list[str]:
        """Who may handle a case about `institution`: enabled analysts and admins whose scope has it."""
        return [u.name for u in self.state.users()
                if u.may("analyst") and not u.disabled and self.in_scope(u, [institution])]

    # the API functions the pages share

    def search(self, user: User, given: SearchInput) -> dict[str, Any]:
        request = build_request(given, self.config.tz, "request", allowed_institutions=user.institutions)
        out = result_json(self.services.store.search(request))
        if "facets" in out:
            out["facets"] = self._scoped(user, out["facets"])
        return out

    def _scoped(self, user: User, facets: dict[str, Any]) -> dict[str, Any]:
        """A mention about the user's institution may name others too: those are not the user's to count."""
        return {**facets, "institutions": [f for f in facets["institutions"] if self.in_scope(user, [f["value"]])]}

    def search_page(self, user: User, given: SearchInput, facets: dict[str, Any] | None = None
                    ) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
        """The page's hits (no facets: they come through their own call, `facets`): the API's JSON,
        and for each hit in a repost / near-duplicate group its group and the group's size, so the
        page shows the group once. The size is the group facet's (its largest groups) when
        `facets` are given, else the copies on this page."""
        request = build_request(dataclasses.replace(given, facets=False, interval=None), self.config.tz, "request",
                                allowed_institutions=user.institutions)
        result = self.services.store.search(request)
        sizes = {g["group_id"]: g["count"] for g in facets["groups"]} if facets else {}
        on_page = Counter(h.mention.group_id for h in result.hits if h.mention.group_id)
        groups = {h.mention.id: (h.mention.group_id, max(sizes.get(h.mention.group_id, 0), on_page[h.mention.group_id]))
                  for h in result.hits if h.mention.group_id}
        return result_json(result), groups

    def forget_facets(self) -> None:
        """Empty the facet cache (a benchmark timing the counts cold)."""
        with self._facet_lock:
            self._facet_cache.clear()

    def facets(self, user: User, given: SearchInput) -> dict[str, Any]:
        """The counts over the whole result of a search (the `facets` of `search --json`: timeline by
        polarity, sources, institutions, categories, repost groups), limited to the user's
        institutions. At a million mentions they cost far more than a page of hits, so each is
        kept for `FACET_CACHE_SECONDS` per search and scope (a user paging, sorting or coming
        back does not pay again; new mentions show within that time)."""
        request = build_request(dataclasses.replace(given, limit=1, offset=0, cursor=None, sort="", facets=True),
                                self.config.tz, "request", allowed_institutions=user.institutions)
        assert request.facets is not None
        key = (request.fingerprint(), request.facets.interval_seconds)
        with self._facet_lock:
            cached: dict[str, Any] | None = self._facet_cache.get(key)
        if cached is None:
            cached = result_json(self.services.store.search(request))["facets"]
            with self._facet_lock:
                self._facet_cache[key] = cached
        return self._scoped(user, cached)

    def visible_mention(self, user: User, mention_id: str) -> Mention:
        """The stored mention, when it is about one of the user's institutions; else a 404."""
        m = self.services.store.get(mention_id)
        if m is None or not self.in_scope(user, m.institutions):
            raise HTTPException(404, f"no mention {mention_id}")
        return m

    def mention(self, user: User, mention_id: str) -> dict[str, Any]:
        return self.visible_mention(user, mention_id).to_dict()

    def group(self, user: User, mention_id: str) -> dict[str, Any]:
        return self.group_of(user, self.visible_mention(user, mention_id))

    def group_of(self, user: User, m: Mention) -> dict[str, Any]:
        """The other members of a mention's repost / near-duplicate group (`group_id`), newest first,
        that the user may see, read with the store's group filter: the newest `MAX_LIMIT` of the group
        (`complete` false when it has more)."""
        key = m.group_id or m.id
        result = self.services.store.search(SearchRequest(query=parse(""), group_id=key, sort="time",
                                                          allowed_institutions=user.institutions,
                                                          limit=MAX_LIMIT))
        members = [h.mention for h in result.hits if h.mention.id != m.id]
        complete = result.next_cursor is None
        return {"group_id": key, "complete": complete,
                "members": [{"id": x.id, "title": x.title, "source": x.source, "url": x.url,
                             "published_at": x.published_at.isoformat() if x.published_at else None,
                             "repost_of": x.repost_of} for x in members]}

    def correct(self, user: User, mention_id: str, body: CorrectionBody) -> dict[str, Any]:
        """Correct a mention's analysis (`yuqing.corrections.correct`, as `yuqing label`), as `user`.
        A user limited to some institutions may add or remove only those."""
        current = self.mention(user, mention_id)
        if body.institutions is not None:
            known = {i.name for i in self.config.institutions}
            changed = set(body.institutions) ^ set(current["institutions"])
            unknown = sorted(n for n in changed if known and n not in known)
            if unknown:
                raise CorrectionError(f"institutions: {unknown[0]!r} is not a configured institution")
            outside = sorted(n for n in changed if not self.in_scope(user, [n]))
            if outside:
                raise HTTPException(403, f"{user.name} may not change whether the mention names {outside[0]}")
        bad = [c for c in body.categories or [] if c not in self.category_labels]
        if bad:
            raise CorrectionError(f"categories: {bad[0]!r} is not a configured category "
                                  f"(known: {', '.join(self.category_labels)})")
        fixed = correct(self.services.store, mention_id, polarity=body.polarity, institutions=body.institutions,
                        negative_entities=body.negative_entities, categories=body.categories, by=user.name,
                        note=body.note, at=self.now())
        self.state.audit(user.name, "mention.correct", mention_id, **fixed.corrections[-1]["after"],
                         note=body.note)
        return fixed.to_dict()

    def saved_searches(self, user: User) -> list[dict[str, Any]]:
        """Each with its search URL and its alert rule as YAML for `alerts.rules` (for those who keep
        rules in the config file; turning the alert on in the app needs none)."""
        return [self.saved_json(user, saved) for saved in self.state.saved_searches(user.name)]

    def saved_json(self, user: User, saved: dict[str, Any]) -> dict[str, Any]:
        rule = yaml.safe_dump([rule_mapping(user, saved)], allow_unicode=True, sort_keys=False,
                              default_flow_style=None).strip()
        return {**saved, "url": search_url(saved["params"]), "rule": rule}

    def sources(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "type": s.type, **source_health(self.services, s.name)} for s in self.config.sources]

    def check_institutions(self, names: list[str] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        known = {i.name for i in self.config.institutions}
        unknown = [n for n in names if known and n not in known]
        if unknown:
            raise HTTPException(400, f"institutions: {unknown[0]!r} is not a configured institution "
                                     f"(known: {', '.join(sorted(known))})")
        return tuple(names)


def current_user(request: Request) -> User:
    session: Session = request.state.session
    return session.user


def require(request: Request, role: str) -> User:
    """The logged-in user when they have `role` (or a higher one); 403 otherwise."""
    user = current_user(request)
    if not user.may(role):
        raise HTTPException(403, f"needs the {role} role; {user.name} is {user.role}")
    return user


def scope(user: User, config: Config) -> list[str]:
    """The institutions a user may filter on."""
    return list(user.institutions) if user.institutions is not None else [i.name for i in config.institutions]


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme == request.url.scheme


def _guard(web: WebApp) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        found = web.session_of(request)
        request.state.session = found[1] if found else None
        request.state.session_id = found[0] if found else None
        if not (path in PUBLIC or path.startswith(PUBLIC_PREFIXES)) and found is None:
            if path.startswith("/api/"):
                response: Response = JSONResponse({"detail": "not logged in"}, status_code=401)
            else:
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        elif request.method not in SAFE_METHODS and not _csrf_ok(request, found[1] if found else None):
            response = JSONResponse({"detail": "CSRF check failed: send the session's token in the "
                                               f"{CSRF_HEADER} header"}, status_code=403)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            # a route may set a stricter policy of its own (a digest as sent); never a missing one
            response.headers.setdefault(name, value)
        return response
    return guard


def _csrf_ok(request: Request, session: Session | None) -> bool:
    if request.url.path == "/api/login":
        # no session yet: a JSON body cannot be sent cross-site without the browser asking first
        return request.headers.get("content-type", "").split(";")[0].strip() == "application/json" \
            and _same_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    return session is not None and bool(sent) and hmac.compare_digest(sent, session.csrf) and _same_origin(request)


def _api(web: WebApp, api: FastAPI) -> None:

    @api.get("/api/health", summary="Liveness: answers without a session")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/api/login", summary="Log in with {username, password}; sets the session cookie")
    def login(request: Request, body: LoginBody) -> Response:
        cfg = web.config.web
        keys = [f"user:{body.username}", f"addr:{_address(request)}"]
        if web.state.failures(keys, cfg.login_window_seconds) >= cfg.login_max_failures:
            web.state.audit(body.username, "login.refused", body.username, address=_address(request))
            return JSONResponse({"detail": "too many failed logins; try again later"}, status_code=429,
                                headers={"Retry-After": str(cfg.login_window_seconds)})
        user = web.state.verify(body.username, body.password)
        if user is None:
            web.state.record_failure(keys, cfg.login_window_seconds)
            web.state.audit(body.username, "login.failed", body.username, address=_address(request))
            return JSONResponse({"detail": "wrong user name or password"}, status_code=401)
        session_id, session = web.state.start_session(user, cfg.session_seconds, _address(request))
        response = JSONResponse({"user": user.to_dict(), "csrf_token": session.csrf})
        web.set_cookie(request, response, session_id)
        return response

    @api.post("/api/logout", summary="End the session")
    def logout(request: Request) -> Response:
        web.state.end_session(request.state.session_id, current_user(request).name)
        response = JSONResponse({"status": "logged out"})
        response.delete_cookie(COOKIE, path="/")
        return response

    @api.get("/api/me", summary="Who is logged in, and the CSRF token for changes")
    def me(request: Request) -> dict[str, Any]:
        session: Session = request.state.session
        return {"user": session.user.to_dict(), "csrf_token": session.csrf}

    @api.get("/api/search", summary="Search mentions: the same JSON as `yuqing search --json`")
    def search(request: Request, q: str = "", limit: int = Query(20, ge=0, le=MAX_LIMIT), offset: int = 0,
               since: str | None = Query(None, alias="from"), until: str | None = Query(None, alias="to"),
               polarity: str | None = None, source: str | None = None, institution: str | None = None,
               sort: str = "", cursor: str | None = None, facets: bool = False,
               interval: str | None = None) -> dict[str, Any]:
        given = SearchInput(q, since, until, polarity, source, institution, limit, offset,
                            sort=sort, cursor=cursor, facets=facets, interval=interval)
        return web.search(current_user(request), given)

    @api.get("/api/facets", summary="The counts over the whole result of a search (the `facets` of `/api/search?"
                                    "facets=true`: timeline by polarity, sources, institutions, categories, repost "
                                    "groups), kept briefly per search: what the search page loads after its hits")
    def facets(request: Request, q: str = "", since: str | None = Query(None, alias="from"),
               until: str | None = Query(None, alias="to"), polarity: str | None = None, source: str | None = None,
               institution: str | None = None, interval: str | None = None) -> dict[str, Any]:
        given = SearchInput(q, since, until, polarity, source, institution, facets=True, interval=interval)
        return web.facets(current_user(request), given)

    @api.get("/api/export", summary="The whole result of a search as a file (format csv, xlsx or jsonl), streamed "
                                    "from the store's scan: not cut at any page or window; the same file as "
                                    "`yuqing export`")
    def export(request: Request, format: str = "csv", q: str = "", since: str | None = Query(None, alias="from"),
               until: str | None = Query(None, alias="to"), polarity: str | None = None, source: str | None = None,
               institution: str | None = None) -> Response:
        from yuqing.export import FORMATS, MEDIA_TYPES, stream

        if format not in FORMATS:
            raise ConfigError("request", "format", f"{format!r} is not one of: {', '.join(FORMATS)}")
        user = current_user(request)
        wanted = build_request(SearchInput(q, since, until, polarity, source, institution), web.config.tz,
                               "request", allowed_institutions=user.institutions)
        web.state.audit(user.name, "export", format, **{k: v for k, v in request.query_params.items()})
        name = f"yuqing-{web.now():%Y%m%d-%H%M}.{format}"
        return StreamingResponse(stream(format, web.services.store.scan(wanted)), media_type=MEDIA_TYPES[format],
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @api.get("/api/mentions/{mention_id}", summary="One mention: full text and analysis")
    def mention(request: Request, mention_id: str) -> dict[str, Any]:
        return web.mention(current_user(request), mention_id)

    @api.get("/api/mentions/{mention_id}/group", summary="The other members of the mention's repost / "
                                                        "near-duplicate group, newest first")
    def mention_group(request: Request, mention_id: str) -> dict[str, Any]:
        return web.group(current_user(request), mention_id)

    @api.post("/api/mentions/{mention_id}/corrections",
              summary="Correct the analysis (polarity, institutions, negative entities, categories) with a note "
                      "(analyst); the same operation as `yuqing label`")
    def correct_mention(request: Request, mention_id: str, body: CorrectionBody) -> dict[str, Any]:
        return web.correct(require(request, "analyst"), mention_id, body)

    @api.get("/api/sources", summary="Each configured source and its crawl health")
    def sources() -> list[dict[str, Any]]:
        return web.sources()

    @api.get("/api/users", summary="Users (admin)")
    def users(request: Request) -> list[dict[str, object]]:
        require(request, "admin")
        return [u.to_dict() for u in web.state.users()]

    @api.post("/api/users", summary="Add a user (admin)", status_code=201)
    def add_user(request: Request, body: NewUserBody) -> dict[str, object]:
        actor = require(request, "admin")
        institutions = web.check_institutions(body.institutions)
        return web.state.add_user(actor.name, body.name, body.role, body.password, institutions).to_dict()

    @api.patch("/api/users/{name}", summary="Change a user's role, institutions, password or access (admin)")
    def change_user(request: Request, name: str, body: UserChangeBody) -> dict[str, object]:
        actor = require(request, "admin")
        if name == actor.name and (body.disabled or (body.role and body.role != "admin")):
            raise HTTPException(400, "an admin cannot lock themself out; ask another admin")
        institutions: tuple[str, ...] | None | bool = None if body.all_institutions else (
            web.check_institutions(body.institutions) if body.institutions is not None else False)
        return web.state.update_user(actor.name, name, role=body.role, institutions=institutions,
                                     disabled=body.disabled, password=body.password).to_dict()

    @api.get("/api/audit", summary="The audit log, newest first (admin)")
    def audit(request: Request, limit: int = Query(200, ge=1, le=MAX_LIMIT)) -> list[dict[str, object]]:
        require(request, "admin")
        return web.state.audit_log(limit)


def _pages(web: WebApp, pages: FastAPI) -> None:
    render = web.render

    @pages.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home() -> Response:
        return RedirectResponse("/search", status_code=303)

    @pages.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @pages.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/search") -> Response:
        safe_next = next if next.startswith("/") and not next.startswith("//") else "/search"
        return render(request, "login.html", next=safe_next)

    @pages.get("/search", include_in_schema=False, response_class=HTMLResponse)
    def search_page(request: Request, q: str = "", page: int = Query(1, ge=1),
                    since: str | None = Query(None, alias="from"), until: str | None = Query(None, alias="to"),
                    polarity: str | None = None, source: str | None = None, institution: str | None = None,
                    sort: str = "", cursor: str | None = None, back: str | None = None,
                    facets: bool = False) -> Response:
        """The hits first. The facet panel and timeline come through their own call (`/search/facets`,
        which app.js loads into the page), or inline with `facets=1` (the link shown without script).
        Next pages follow the store's cursor, so page 500 costs what page 1 does; the URL keeps the
        cursor of the page before (`back`) for one step back, and a step further back is by offset."""
        user = current_user(request)
        form = {"q": q, "from": since or "", "to": until or "", "polarity": polarity or "", "source": source or "",
                "institution": institution or "", "sort": sort}
        kept = {k: v for k, v in form.items() if v}
        given = SearchInput(q, since, until, polarity, source, institution, PAGE_SIZE,
                            0 if cursor else (page - 1) * PAGE_SIZE, sort=sort, cursor=cursor)
        try:
            if not cursor and page > MAX_OFFSET_PAGE:
                raise ConfigError("request", "page", f"page {page} without a cursor is past page {MAX_OFFSET_PAGE}: "
                                                     "follow the next-page links, which carry the cursor")
            counts = web.facets(user, facet_input(web, given)) if facets else None
            result, groups = web.search_page(user, given, counts)
            error = ""
        except (ConfigError, QuerySyntaxError) as e:
            counts, result, groups, error = None, {"total": 0, "hits": []}, {}, str(e)
        pages_total = max(1, math.ceil(result["total"] / PAGE_SIZE))
        if page <= 1:
            prev_url = None
        elif page == 2:
            prev_url = search_url(kept)
        else:
            prev_url = search_url({**kept, "page": str(page - 1), **({"cursor": back} if back else {})})
        following = result.get("next_cursor")
        next_url = search_url({**kept, "page": str(page + 1), "cursor": following,
                               **({"back": cursor} if cursor else {})}) if following else None
        return render(request, "search.html", 400 if error else 200, form=form, result=result, error=error,
                      page=page, pages_total=pages_total, groups=groups, sorts=SORT_LABELS,
                      prev_url=prev_url, next_url=next_url, **facet_panel(web, q, kept, counts),
                      facets_src=f"/search/facets?{urlencode(kept)}" if not error and counts is None else "",
                      facets_url=search_url({**kept, "facets": "1"}),
                      sources=[s.name for s in web.config.sources],
                      institutions=scope(user, web.config),
                      saved=[{**x, "url": search_url(x["params"])} for x in web.state.saved_searches(user.name)],
                      export_query=urlencode({k: v for k, v in kept.items() if k != "sort"}))

    @pages.get("/search/facets", include_in_schema=False, response_class=HTMLResponse)
    def search_facets(request: Request, q: str = "", since: str | None = Query(None, alias="from"),
                      until: str | None = Query(None, alias="to"), polarity: str | None = None,
                      source: str | None = None, institution: str | None = None, sort: str = "") -> Response:
        """The search page's facet panel and timeline alone: an HTML fragment app.js puts in the page
        (`sort` only carries over into its links)."""
        kept = {k: v for k, v in {"q": q, "from": since, "to": until, "polarity": polarity, "source": source,
                                  "institution": institution, "sort": sort}.items() if v}
        given = SearchInput(q, since, until, polarity, source, institution)
        return render(request, "_facets.html", **facet_panel(web, q, kept, web.facets(current_user(request),
                                                                                     facet_input(web, given))))

    @pages.get("/mentions/{mention_id}", include_in_schema=False, response_class=HTMLResponse)
    def mention_page(request: Request, mention_id: str) -> Response:
        user = current_user(request)
        stored = web.visible_mention(user, mention_id)
        m = stored.to_dict()
        now = web.now()
        found = web.services.alert_store.list_cases(CaseQuery(mention_id=mention_id, institutions=user.institutions))
        institution = next((i for i in m["institutions"] if web.in_scope(user, [i])), "")
        return render(request, "mention.html", m=m, group=web.group_of(user, stored),
                      cases=[cases.public(c, now) for c in found],
                      handlers=web.handlers(institution), categories=web.category_labels,
                      institutions=scope(user, web.config))

    @pages.get("/sources", include_in_schema=False, response_class=HTMLResponse)
    def sources_page(request: Request) -> Response:
        return render(request, "sources.html", sources=web.sources())

    @pages.get("/admin/users", include_in_schema=False, response_class=HTMLResponse)
    def users_page(request: Request) -> Response:
        require(request, "admin")
        return render(request, "users.html", users=[u.to_dict() for u in web.state.users()],
                      audit=web.state.audit_log(50), institutions=[i.name for i in web.config.institutions])

    @pages.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> Response:
        return render(request, "api_docs.html", schema=request.app.openapi())


def base_app(services: Services, state: WebState) -> tuple[WebApp, FastAPI]:
    """The ASGI app with the session guard, the error pages and the routes of this module (login,
    search, mentions, sources, users); `app.web.create_app` adds the other modules' routes."""
    web = WebApp(services, state)
    app = FastAPI(title="yuqing 舆情 API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.web = web
    app.middleware("http")(_guard(web))
    _api(web, app)
    _pages(web, app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def wants_html(request: Request) -> bool:
        return not request.url.path.startswith("/api/") and request.method == "GET"

    def error_page(request: Request, status: int, detail: str) -> Response:
        if wants_html(request):
            return web.templates.TemplateResponse(request, "error.html", {
                "session": request.state.session, "status": status, "detail": detail}, status_code=status)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        return error_page(request, e.status_code, str(e.detail))

    @app.exception_handler(ConfigError)
    @app.exception_handler(QuerySyntaxError)
    @app.exception_handler(UserError)
    @app.exception_handler(CaseError)
    @app.exception_handler(CorrectionError)
    async def bad_input(request: Request, e: Exception) -> Response:
        return error_page(request, 400, str(e))

    @app.exception_handler(LifecycleError)
    @app.exception_handler(Conflict)
    async def conflict(request: Request, e: Exception) -> Response:
        return error_page(request, 409, str(e))

    @app.exception_handler(StoreError)
    async def store_down(request: Request, e: Exception) -> Response:
        return error_page(request, 503, f"the store failed: {e}")

    return web, app
