"""The archive of sent digests in the web app (`alerts.digest.archived`, `read_archived`: the same
records as `yuqing digest list`): a list, each digest's page, and its HTML exactly as sent. A user
limited to some institutions sees only the digests about them.

The digest's HTML is an email: its layout is inline CSS, which the app's own pages forbid. It is
served on its own URL with a policy of its own — styles inline, images only as data: URIs, no
script, no requests anywhere, sandboxed — so it shows as the recipient read it and can do nothing.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.web.app import WebApp, current_user
from app.web.state import User

DIGEST_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; "
              "frame-ancestors 'none'; sandbox")


def add_routes(web: WebApp, app: FastAPI) -> None:
    from alerts.digest import ArchivedDigest, archived, read_archived

    def listed(user: User, limit: int) -> list[dict[str, Any]]:
        return [r.public() for r in archived(web.services.alert_store, limit, user.institutions)]

    def one(user: User, key: str) -> ArchivedDigest:
        found = read_archived(web.services.alert_store, key)
        if found is None or (user.institutions is not None
                             and not set(found.record.institutions) <= set(user.institutions)):
            raise HTTPException(404, f"no digest {key}")
        return found

    @app.get("/api/digests", summary="Sent and pending digests, newest first: the same JSON as `yuqing digest list "
                                     "--json`")
    def digests(request: Request, limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return listed(current_user(request), limit)

    @app.get("/api/digests/{key}", summary="One digest: its record and its text as sent")
    def digest(request: Request, key: str) -> dict[str, Any]:
        found = one(current_user(request), key)
        return {**found.record.public(), "text": found.text}

    @app.get("/digests", include_in_schema=False, response_class=HTMLResponse)
    def digests_page(request: Request) -> Response:
        return web.render(request, "digests.html", digests=listed(current_user(request), 200))

    @app.get("/digests/{key}", include_in_schema=False, response_class=HTMLResponse)
    def digest_page(request: Request, key: str) -> Response:
        found = one(current_user(request), key)
        return web.render(request, "digest.html", d=found.record.public(), text=found.text)

    @app.get("/digests/{key}/as-sent", include_in_schema=False, response_class=HTMLResponse)
    def digest_as_sent(request: Request, key: str) -> Response:
        return HTMLResponse(one(current_user(request), key).html, headers={"Content-Security-Policy": DIGEST_CSP})
