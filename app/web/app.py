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

import hmac
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, TimestampSigner
from markupsafe import Markup, escape
from pydantic import BaseModel, Field

from alerts.lifecycle import LifecycleError
from app.services import Services
from app.status import source_health
from app.web.state import ROLES, Session, User, UserError, WebState
from yuqing import cases
from yuqing.alertstore import Conflict
from yuqing.alertstore.model import CaseQuery
from yuqing.cases import CaseError
from yuqing.config import Config, ConfigError
from yuqing.query import QuerySyntaxError
from yuqing.search import SearchInput, build_request, result_json
from yuqing.storage import StoreError

HERE = Path(__file__).parent
COOKIE = "yuqing_session"
CSRF_HEADER = "X-CSRF-Token"
PAGE_SIZE = 20
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


def _templates(tz: ZoneInfo) -> Jinja2Templates:
    from nlp import CATEGORY_LABELS

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

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(marked=marked, http_url=http_url, when=when)
    env.globals.update(polarity_labels=POLARITY_LABELS, role_labels=ROLE_LABELS, state_labels=STATE_LABELS,
                       category_labels=CATEGORY_LABELS, roles=ROLES, alert_state_labels=ALERT_STATE_LABELS,
                       case_status_labels=CASE_STATUS_LABELS, missed_labels=MISSED_LABELS)
    return Jinja2Templates(env=env)


# -- the app -----------------------------------------------------------------------------------

class WebApp:
    """The parts the routes need, built once per process by the application layer and passed in."""

    def __init__(self, services: Services, state: WebState) -> None:
        self.services, self.config, self.state = services, services.config, state
        self.signer = TimestampSigner(state.cookie_secret, salt="yuqing.session")
        self.templates = _templates(services.config.tz)

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
        return result_json(self.services.store.search(request))

    def mention(self, user: User, mention_id: str) -> dict[str, Any]:
        m = self.services.store.get(mention_id)
        if m is None or not self.in_scope(user, m.institutions):
            raise HTTPException(404, f"no mention {mention_id}")
        return m.to_dict()

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
        response.headers.update(SECURITY_HEADERS)
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

    @api.get("/api/mentions/{mention_id}", summary="One mention: full text and analysis")
    def mention(request: Request, mention_id: str) -> dict[str, Any]:
        return web.mention(current_user(request), mention_id)

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
    def search_page(request: Request, q: str = "", page: int = Query(1, ge=1, le=10_000),
                    since: str | None = Query(None, alias="from"), until: str | None = Query(None, alias="to"),
                    polarity: str | None = None, source: str | None = None,
                    institution: str | None = None) -> Response:
        given = SearchInput(q, since, until, polarity, source, institution, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        form = {"q": q, "from": since or "", "to": until or "", "polarity": polarity or "", "source": source or "",
                "institution": institution or ""}
        try:
            result, error = web.search(current_user(request), given), ""
        except (ConfigError, QuerySyntaxError) as e:
            result, error = {"total": 0, "hits": []}, str(e)
        pages_total = max(1, math.ceil(result["total"] / PAGE_SIZE))
        kept = {k: v for k, v in form.items() if v}
        return render(request, "search.html", 400 if error else 200, form=form, result=result, error=error,
                      page=page, pages_total=pages_total,
                      prev_url=f"/search?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
                      next_url=f"/search?{urlencode({**kept, 'page': page + 1})}" if page < pages_total else None,
                      sources=[s.name for s in web.config.sources],
                      institutions=scope(current_user(request), web.config))

    @pages.get("/mentions/{mention_id}", include_in_schema=False, response_class=HTMLResponse)
    def mention_page(request: Request, mention_id: str) -> Response:
        user = current_user(request)
        m = web.mention(user, mention_id)
        now = web.now()
        found = web.services.alert_store.list_cases(CaseQuery(mention_id=mention_id, institutions=user.institutions))
        institution = next((i for i in m["institutions"] if web.in_scope(user, [i])), "")
        return render(request, "mention.html", m=m, cases=[cases.public(c, now) for c in found],
                      handlers=web.handlers(institution))

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
