"""Cases in the web app: an analyst opens a case on a negative mention, assigns a handler, sets
its status and notes the response (`yuqing.cases`, kept in the alert store); overdue cases stand
out. The API is under `/api/cases`, the pages at `/cases`; viewers read, analysts change, and a
user limited to some institutions sees only their cases.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.web.app import WebApp, current_user, require
from app.web.state import User
from yuqing import cases
from yuqing.alertstore.model import CASE_STATUSES, Case, CaseQuery

KPI_CASES = 10_000  # the KPIs are over the newest this many cases (a page of the Elasticsearch index)


class NewCaseBody(BaseModel):
    mention_id: str = Field(max_length=200)
    handler: str = Field("", max_length=64)


class CaseChangeBody(BaseModel):
    status: str | None = None
    handler: str | None = Field(None, max_length=64)
    response: str | None = Field(None, max_length=cases.MAX_RESPONSE_CHARS)


class CaseWeb:
    """The functions the case API and pages share."""

    def __init__(self, web: WebApp) -> None:
        self.web = web

    def list(self, user: User, statuses: list[str] | None, handler: str | None, only_overdue: bool,
             limit: int) -> dict[str, Any]:
        unknown = [s for s in statuses or [] if s not in CASE_STATUSES]
        if unknown:
            raise cases.CaseError(f"status {unknown[0]!r} is not one of: {', '.join(CASE_STATUSES)}")
        now = self.web.now()
        found = self.web.services.alert_store.list_cases(CaseQuery(
            statuses=tuple(statuses or ()), handler=handler or None, institutions=user.institutions,
            limit=limit if not only_overdue else max(limit, 5000)))
        shown = [c for c in found if not only_overdue or cases.overdue(c, now)]
        return {"cases": [cases.public(c, now) for c in shown[:limit]]}

    def kpis(self, user: User) -> dict[str, Any]:
        every = self.web.services.alert_store.list_cases(CaseQuery(institutions=user.institutions, limit=KPI_CASES))
        return cases.response_kpis(every, self.web.now()).to_dict()

    def case(self, user: User, case_id: str) -> Case:
        found = self.web.services.alert_store.get_case(case_id)
        if found is None or not self.web.in_scope(user, [found.institution]):
            raise HTTPException(404, f"no case {case_id}")
        return found

    def detail(self, user: User, case_id: str) -> dict[str, Any]:
        return cases.public(self.case(user, case_id), self.web.now())

    def _check_handler(self, name: str, institution: str) -> None:
        if name and name not in self.web.handlers(institution):
            raise cases.CaseError(f"handler {name!r} is not an enabled analyst or admin who may see {institution}")

    def open(self, user: User, body: NewCaseBody) -> dict[str, Any]:
        mention = self.web.mention(user, body.mention_id)
        if mention["polarity"] != "negative":
            raise cases.CaseError(f"mention {body.mention_id} is not negative "
                                  f"({mention['polarity'] or 'not analysed'}): cases are for negative mentions")
        institution = next((i for i in mention["institutions"] if self.web.in_scope(user, [i])), "")
        self._check_handler(body.handler, institution)
        case = cases.open_case(self.web.services.alert_store, body.mention_id, mention["title"] or "", institution,
                               user.name, self.web.now(), handler=body.handler)
        self.web.state.audit(user.name, "case.open", case.id, mention=body.mention_id, handler=body.handler)
        return cases.public(case, self.web.now())

    def change(self, user: User, case_id: str, body: CaseChangeBody) -> dict[str, Any]:
        current = self.case(user, case_id)
        if body.handler is not None:
            self._check_handler(body.handler, current.institution)
        case = cases.update_case(self.web.services.alert_store, case_id, user.name, self.web.now(), status=body.status,
                                 handler=body.handler, response=body.response)
        self.web.state.audit(user.name, "case.update", case_id,
                             **{k: v for k, v in body.model_dump().items() if v is not None})
        return cases.public(case, self.web.now())


def add_routes(web: WebApp, app: FastAPI) -> None:
    cw = CaseWeb(web)

    @app.get("/api/cases", summary="Cases, newest first (status, handler, overdue=true)")
    def list_cases(request: Request, status: Annotated[list[str] | None, Query()] = None, handler: str | None = None,
                   overdue: bool = False, limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
        return cw.list(current_user(request), status, handler, overdue, limit)

    @app.get("/api/cases/kpis", summary="Response times: share accepted ≤ 48 h, answered ≤ 5 working days, overdue")
    def case_kpis(request: Request) -> dict[str, Any]:
        return cw.kpis(current_user(request))

    @app.post("/api/cases", summary="Open a case on a negative mention, optionally with its handler (analyst)",
              status_code=201)
    def open_case(request: Request, body: NewCaseBody) -> dict[str, Any]:
        return cw.open(require(request, "analyst"), body)

    @app.get("/api/cases/{case_id}", summary="One case: deadlines, overdue, who did what when")
    def show_case(request: Request, case_id: str) -> dict[str, Any]:
        return cw.detail(current_user(request), case_id)

    @app.patch("/api/cases/{case_id}", summary="Assign the handler, set the status, note the response (analyst)")
    def change_case(request: Request, case_id: str, body: CaseChangeBody) -> dict[str, Any]:
        return cw.change(require(request, "analyst"), case_id, body)

    @app.get("/cases", include_in_schema=False, response_class=HTMLResponse)
    def cases_page(request: Request, status: str = "", handler: str = "", overdue: bool = False) -> Response:
        user = current_user(request)
        listed = cw.list(user, [status] if status else None, handler or None, overdue, 500)
        return web.render(request, "cases.html", cases=listed["cases"], kpis=cw.kpis(user),
                          form={"status": status, "handler": handler, "overdue": overdue},

                          handlers=[u.name for u in web.state.users() if u.may("analyst")])

    @app.get("/cases/{case_id}", include_in_schema=False, response_class=HTMLResponse)
    def case_page(request: Request, case_id: str) -> Response:
        user = current_user(request)
        case = cw.detail(user, case_id)
        return web.render(request, "case.html", c=case,
                          handlers=web.handlers(case["institution"]))
