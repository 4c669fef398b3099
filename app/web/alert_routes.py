"""Alerts and silences in the web app: the API under `/api/alerts` and `/api/silences`, and the
pages built from it. Every change calls the operation `yuqing alerts …` calls (`alerts.lifecycle`,
`alerts.resolve`), so the browser and the terminal cannot disagree about what acknowledging or
resolving means; viewers read, analysts change. A user limited to some institutions sees and
changes only their alerts.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.alerts_cli import list_json, show_json
from app.web.app import WebApp, current_user, require, scope
from app.web.saved_alerts import alert_setup
from app.web.state import User
from yuqing.alertstore.model import ANY, OPEN_STATES, SEVERITIES, STATES, AlertQuery, AlertRecord
from yuqing.config import ConfigError, parse_duration
from yuqing.search import parse_when

NOTE_CHARS = 2000
# the evidence chart: this many buckets before the alert's bucket, and at most this many after it
CHART_BEFORE, CHART_AFTER = 36, 12


class NoteBody(BaseModel):
    note: str = Field("", max_length=NOTE_CHARS)


class SilenceBody(BaseModel):
    reason: str = Field(max_length=NOTE_CHARS)
    institution: str = ANY
    rule: str = ANY
    severity: str = ANY
    source: str = ANY  # for a `silence` rule's alerts: the source gone quiet
    until: str | None = None  # a date/time in the configured timezone …
    duration: str | None = None  # … or how long: 2h, 3d


class AlertWeb:
    """The functions the alert API and pages share."""

    def __init__(self, web: WebApp) -> None:
        self.web = web

    def list(self, user: User, states: list[str] | None, institution: str | None, rule: str | None,
             severity: str | None, limit: int) -> dict[str, Any]:
        chosen = tuple(STATES) if states and "all" in states else tuple(states or OPEN_STATES)
        unknown = [s for s in chosen if s not in STATES]
        if unknown:
            raise ConfigError("request", "state", f"{unknown[0]!r} is not one of: all, {', '.join(STATES)}")
        if severity and severity not in SEVERITIES:
            raise ConfigError("request", "severity", f"{severity!r} is not one of: {', '.join(SEVERITIES)}")
        if institution and not self.web.in_scope(user, [institution]):
            return list_json([])
        # severity and a user's institutions are not store filters: read a full page, then narrow
        wanted = limit if severity is None and user.institutions is None else max(limit, 1000)
        records = self.web.services.alert_store.list_alerts(AlertQuery(
            institution=institution or None, rule=rule or None, states=chosen, limit=wanted))
        kept = [r for r in records if (severity is None or r.severity == severity) and self.visible(user, r)]
        return list_json(kept[:limit])

    def visible(self, user: User, record: AlertRecord) -> bool:
        """An alert about one of the user's institutions, or about a source (a `silence` rule's:
        its institution empty), which feeds every institution and so concerns every user."""
        return not record.institution or self.web.in_scope(user, [record.institution])

    def record(self, user: User, alert_id: str) -> AlertRecord:
        record = self.web.services.alert_store.get_alert(alert_id)
        if record is None or not self.visible(user, record):
            raise HTTPException(404, f"no alert {alert_id}")
        return record

    def changeable(self, user: User, alert_id: str) -> AlertRecord:
        """The alert, when `user` may change it: a source's alert is every institution's, so only a
        user who sees them all acknowledges or resolves it."""
        record = self.record(user, alert_id)
        if not record.institution and user.institutions is not None:
            raise HTTPException(403, f"alert {alert_id} is about source {record.source}, which every institution "
                                     f"shares: ask a user who sees all institutions")
        return record

    def detail(self, user: User, alert_id: str) -> dict[str, Any]:
        """`alerts show --json`, plus who changed it from the web app, when. A source's alert quotes
        posts of any institution: a user limited to some sees its counts, not those posts or their
        keywords and categories."""
        record = self.record(user, alert_id)
        store = self.web.services.alert_store
        out = {**show_json(record, store.deliveries(alert_id=record.id)),
               "history": self.web.state.audit_log(100, target=record.id)}
        if not record.institution and user.institutions is not None:
            out["latest"] = {**out["latest"], "mentions": [], "keywords": [], "categories": []}
        return out

    def evidence(self, user: User, alert_id: str) -> dict[str, Any]:
        """Mentions per bucket around the alert's spike (the rule's polarity), with the baseline
        the detector expected for the spike's bucket."""
        latest = self.record(user, alert_id).latest
        step = max(int((latest.bucket_end - latest.bucket_start).total_seconds()), 60)
        since = latest.bucket_start - timedelta(seconds=step * CHART_BEFORE)
        until = min(latest.bucket_end + timedelta(seconds=step * CHART_AFTER),
                    max(self.web.now(), latest.bucket_end))
        # an alert about a source gone quiet (institution empty) counts that source's mentions
        counts = self.web.services.store.count_by_interval(
            since, until, step, institution=latest.institution or None, source=latest.source or None,
            polarity=None if latest.polarity == "any" else latest.polarity)
        return {"interval_seconds": step, "polarity": latest.polarity, "baseline": latest.baseline,
                "bucket_start": latest.bucket_start.isoformat(),
                "buckets": [{"start": at.isoformat(), "count": n} for at, n in counts]}

    def acknowledge(self, user: User, alert_id: str, note: str) -> dict[str, Any]:
        from alerts import lifecycle

        self.changeable(user, alert_id)
        record = lifecycle.acknowledge(self.web.services.alert_store, alert_id, user.name, note, self.web.now())
        self.web.state.audit(user.name, "alert.ack", alert_id, note=note)
        return record.public()

    def resolve(self, user: User, alert_id: str, note: str) -> dict[str, Any]:
        import alerts

        self.changeable(user, alert_id)
        services = self.web.services
        step = alerts.resolve(services.config, services.alert_store, alert_id, user.name, note, self.web.now(),
                              setup=alert_setup(services, self.web.state))
        self.web.state.audit(user.name, "alert.resolve", alert_id, note=note, notices=len(step.notices))
        assert step.record is not None
        return step.record.public()

    def silences(self, user: User) -> dict[str, Any]:
        """The silences in force (`alerts list --silences --json`); a limited user sees those of
        their institutions."""
        found = self.web.services.alert_store.silences(active_at=self.web.now())
        return {"silences": [s.to_dict() for s in found
                             if user.institutions is None or s.institution in (*user.institutions, ANY)]}

    def silence(self, user: User, body: SilenceBody) -> dict[str, Any]:
        from alerts import lifecycle

        config, now = self.web.config, self.web.now()
        if user.institutions is not None and body.institution not in user.institutions:
            raise HTTPException(403, f"{user.name} may silence only {', '.join(user.institutions)}")
        known = {i.name for i in config.institutions}
        if body.institution != ANY and known and body.institution not in known:
            raise ConfigError("request", "institution", f"{body.institution!r} is not a configured institution")
        sources = {s.name for s in config.sources}
        if body.source != ANY and body.source not in sources:
            raise ConfigError("request", "source", f"{body.source!r} is not a configured source")
        if body.severity != ANY and body.severity not in SEVERITIES:
            raise ConfigError("request", "severity", f"{body.severity!r} is not one of: *, {', '.join(SEVERITIES)}")
        if (body.until is None) == (body.duration is None):
            raise ConfigError("request", "until", "give either until (a date/time) or duration (2h, 3d), not both")
        until = (parse_when(body.until, config.tz, False, "request", "until") if body.until is not None
                 else now + timedelta(seconds=parse_duration(body.duration, "request", "duration")))
        s = lifecycle.silence(self.web.services.alert_store, user.name, body.reason, until, now,
                              institution=body.institution, rule=body.rule or ANY, severity=body.severity,
                              source=body.source)
        self.web.state.audit(user.name, "silence.add", s.id, institution=s.institution, rule=s.rule,
                             severity=s.severity, source=s.source, until=s.until.isoformat(), reason=s.reason)
        return s.to_dict()

    def unsilence(self, user: User, silence_id: str) -> None:
        from alerts import lifecycle

        found = {s.id: s for s in self.web.services.alert_store.silences()}.get(silence_id)
        if found is None or (user.institutions is not None and found.institution not in (*user.institutions, ANY)):
            raise HTTPException(404, f"no silence {silence_id}")
        if found.institution == ANY and user.institutions is not None:
            raise HTTPException(403, f"silence {silence_id} holds for every institution: ask a user who sees them all")
        lifecycle.unsilence(self.web.services.alert_store, silence_id)
        self.web.state.audit(user.name, "silence.end", silence_id)


def chart_bars(evidence: dict[str, Any], width: int = 720, height: int = 160) -> dict[str, Any]:
    """The evidence as SVG geometry (the page draws rectangles; no script, no inline style)."""
    buckets = evidence["buckets"]
    top = max([b["count"] for b in buckets] + [evidence["baseline"], 1])
    slot = width / max(len(buckets), 1)
    bars = [{"x": round(i * slot + 1, 1), "w": round(max(slot - 2, 1), 1),
             "h": round(b["count"] / top * (height - 20), 1), "count": b["count"], "start": b["start"],
             "spike": b["start"] == evidence["bucket_start"]} for i, b in enumerate(buckets)]
    for bar in bars:
        bar["y"] = round(height - bar["h"], 1)
    return {"width": width, "height": height, "bars": bars,
            "baseline_y": round(height - evidence["baseline"] / top * (height - 20), 1)}


def add_routes(web: WebApp, app: FastAPI) -> None:
    aw = AlertWeb(web)

    @app.get("/api/alerts", summary="Alerts, newest first: the same JSON as `yuqing alerts list --json`")
    def list_alerts(request: Request, state: Annotated[list[str] | None, Query()] = None,
                    institution: str | None = None, rule: str | None = None, severity: str | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        return aw.list(current_user(request), state, institution, rule, severity, limit)

    @app.get("/api/alerts/{alert_id}", summary="One alert: evidence, notices sent, who changed it when")
    def show_alert(request: Request, alert_id: str) -> dict[str, Any]:
        return aw.detail(current_user(request), alert_id)

    @app.get("/api/alerts/{alert_id}/evidence", summary="Mentions per bucket around the alert's spike")
    def alert_evidence(request: Request, alert_id: str) -> dict[str, Any]:
        return aw.evidence(current_user(request), alert_id)

    @app.post("/api/alerts/{alert_id}/ack", summary="Acknowledge with a note (analyst)")
    def ack_alert(request: Request, alert_id: str, body: NoteBody) -> dict[str, Any]:
        return aw.acknowledge(require(request, "analyst"), alert_id, body.note)

    @app.post("/api/alerts/{alert_id}/resolve", summary="Resolve by hand; sends the resolved notice (analyst)")
    def resolve_alert(request: Request, alert_id: str, body: NoteBody) -> dict[str, Any]:
        return aw.resolve(require(request, "analyst"), alert_id, body.note)

    @app.get("/api/silences", summary="Silences in force: the same JSON as `yuqing alerts list --silences --json`")
    def list_silences(request: Request) -> dict[str, Any]:
        return aw.silences(current_user(request))

    @app.post("/api/silences", summary="Silence matching alerts until a time or for a while (analyst)",
              status_code=201)
    def add_silence(request: Request, body: SilenceBody) -> dict[str, Any]:
        return aw.silence(require(request, "analyst"), body)

    @app.delete("/api/silences/{silence_id}", summary="End a silence now (analyst)", status_code=204)
    def end_silence(request: Request, silence_id: str) -> Response:
        aw.unsilence(require(request, "analyst"), silence_id)
        return Response(status_code=204)

    @app.get("/alerts", include_in_schema=False, response_class=HTMLResponse)
    def alerts_page(request: Request, state: str = "", institution: str = "", rule: str = "",
                    severity: str = "") -> Response:
        user = current_user(request)
        form = {"state": state, "institution": institution, "rule": rule, "severity": severity}
        listed = aw.list(user, [state] if state else None, institution or None, rule or None, severity or None, 200)
        return web.render(request, "alerts.html", form=form, alerts=listed["alerts"],
                          severities=SEVERITIES, institutions=scope(user, web.config),
                          rules=[r.name for r in alert_setup(web.services, web.state).rules])

    @app.get("/alerts/{alert_id}", include_in_schema=False, response_class=HTMLResponse)
    def alert_page(request: Request, alert_id: str) -> Response:
        user = current_user(request)
        detail = aw.detail(user, alert_id)
        return web.render(request, "alert.html", a=detail, latest=detail["latest"],
                          chart=chart_bars(aw.evidence(user, alert_id)))

    @app.get("/silences", include_in_schema=False, response_class=HTMLResponse)
    def silences_page(request: Request) -> Response:
        user = current_user(request)
        return web.render(request, "silences.html", silences=aw.silences(user)["silences"],
                          severities=SEVERITIES, institutions=scope(user, web.config),
                          rules=[r.name for r in alert_setup(web.services, web.state).rules],
                          limited=user.institutions is not None,
                          sources=[s.name for s in web.config.sources])
