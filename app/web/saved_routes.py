"""Saved searches in the web app: each user's own searches (`/api/saved-searches`, the page at
`/saved`), and for analysts the switch that makes one an alert on the configured channels of
their choice (`app.web.saved_alerts`: the rule the alert check then runs beside the config's).
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.web.app import WebApp, current_user, require, search_url
from app.web.saved_alerts import DEFAULT_ALERT, alert_setup, check_rule, resolve_open
from app.web.state import User
from yuqing.alertstore.model import SEVERITIES
from yuqing.search import SearchInput, build_request

WINDOWS = {"1h": "1 小时", "6h": "6 小时", "1d": "1 天"}


class SavedSearchBody(BaseModel):
    """A name and the search as the search page's URL holds it."""

    name: str = Field(max_length=200)
    q: str = Field("", max_length=1000)
    since: str = Field("", alias="from", max_length=40)
    until: str = Field("", alias="to", max_length=40)
    polarity: str = ""
    source: str = Field("", max_length=200)
    institution: str = Field("", max_length=200)

    def params(self) -> dict[str, str]:
        """The non-empty URL parameters, by their URL names."""
        return {k: v for k, v in self.model_dump(by_alias=True).items() if k != "name" and v}


class SearchAlertBody(BaseModel):
    """A saved search's alert: which configured channels it notifies (none: it shows on the alerts
    page only), its severity, and how many matches in how long a window raise it."""

    channels: list[str] = Field(default_factory=list, max_length=50)
    severity: str = DEFAULT_ALERT["severity"]
    window: str = Field(DEFAULT_ALERT["window"], max_length=20)
    min_count: int = Field(DEFAULT_ALERT["min_count"], ge=1, le=1_000_000)


class SavedWeb:
    def __init__(self, web: WebApp) -> None:
        self.web = web

    def owned(self, user: User, search_id: int) -> dict[str, Any]:
        saved = self.web.state.saved_search(user.name, search_id)
        if saved is None:
            raise HTTPException(404, f"no saved search {search_id} of yours")
        return saved

    def save(self, user: User, body: SavedSearchBody) -> dict[str, Any]:
        params = body.params()
        # a search that cannot run is refused now, not when it is opened
        build_request(SearchInput(params.get("q", ""), params.get("from"), params.get("to"), params.get("polarity"),
                                  params.get("source"), params.get("institution")), self.web.config.tz, "request")
        return self.web.saved_json(user, self.web.state.save_search(user.name, body.name, params))

    def alert_on(self, user: User, search_id: int, body: SearchAlertBody) -> dict[str, Any]:
        saved = self.owned(user, search_id)
        alert = body.model_dump()
        # validated as an entry of alerts.rules is: a bad channel, severity or query is refused now
        check_rule(self.web.services.alerts, self.web.services, user, saved, alert)
        changed = self.web.state.set_search_alert(user.name, search_id, alert)
        assert changed is not None
        return self.web.saved_json(user, changed)

    def alert_off(self, user: User, search_id: int) -> int:
        """Turn the alert off and resolve the alerts it has open (their channels are told); how many."""
        saved = self.owned(user, search_id)
        if saved["alert"] is None:
            return 0
        setup = alert_setup(self.web.services, self.web.state)  # still with this search's rule
        self.web.state.set_search_alert(user.name, search_id, None)
        return resolve_open(self.web.services, setup, saved, user.name)

    def delete(self, user: User, search_id: int) -> None:
        """Delete a saved search; its alert, when on, is turned off first (whatever the owner's role now)."""
        self.alert_off(user, search_id)
        self.web.state.delete_saved_search(user.name, search_id)


def add_routes(web: WebApp, app: FastAPI) -> None:
    sw = SavedWeb(web)

    @app.get("/api/saved-searches", summary="The logged-in user's saved searches, each with its search URL, "
                                            "its alert (null: off) and its rule as YAML for alerts.rules")
    def saved_searches(request: Request) -> list[dict[str, Any]]:
        return web.saved_searches(current_user(request))

    @app.post("/api/saved-searches", summary="Save a search (name, q, from, to, polarity, source, institution)",
              status_code=201)
    def save_search(request: Request, body: SavedSearchBody) -> dict[str, Any]:
        return sw.save(current_user(request), body)

    @app.delete("/api/saved-searches/{search_id}", summary="Delete one of the user's saved searches (its alert, "
                                                           "when on, is turned off first)", status_code=204)
    def delete_saved_search(request: Request, search_id: int) -> Response:
        sw.delete(current_user(request), search_id)
        return Response(status_code=204)

    @app.put("/api/saved-searches/{search_id}/alert",
             summary="Turn the saved search's alert on, or change it (analyst): channels (of the configured "
                     "ones), severity, window, min_count; the next alert check runs it")
    def search_alert_on(request: Request, search_id: int, body: SearchAlertBody) -> dict[str, Any]:
        return sw.alert_on(require(request, "analyst"), search_id, body)

    @app.delete("/api/saved-searches/{search_id}/alert", status_code=204,
                summary="Turn the saved search's alert off (analyst); its open alerts are resolved")
    def search_alert_off(request: Request, search_id: int) -> Response:
        sw.alert_off(require(request, "analyst"), search_id)
        return Response(status_code=204)

    @app.get("/saved", include_in_schema=False, response_class=HTMLResponse)
    def saved_page(request: Request) -> Response:
        user = current_user(request)
        return web.render(request, "saved.html", saved=web.saved_searches(user),
                          channels=list(web.services.alerts.channels), severities=SEVERITIES, windows=WINDOWS,
                          search_url=search_url)
