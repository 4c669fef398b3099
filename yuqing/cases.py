"""Case handling (舆情处置) as institutions' own guidance asks for it: a negative mention is
accepted (受理) within 48 hours of the case being opened and has a first answer (答复) within five
working days.

A case moves open → in_progress → answered → closed (any step may be skipped or undone; the
first time it leaves `open` is when it was accepted, the first time it is answered — or closed
with a response noted — is when it was answered, and neither time is rewritten later). The
operations here are what the web app calls; `response_kpis` is what the digest reports.

Working days are Monday to Friday in the configured timezone. Public holidays (and the
weekend days China's calendar swaps for them) are not modelled: a deadline across 国庆 comes
early, never late.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.model import CASE_STATUSES, Case, CaseEvent, CaseQuery

ACCEPT_WITHIN = timedelta(hours=48)
ANSWER_WITHIN_WORKING_DAYS = 5
MAX_RESPONSE_CHARS = 10_000


class CaseError(ValueError):
    """A case operation that cannot be done as asked; the message says why."""


def add_working_days(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` whole working days (Mon–Fri), keeping the time of day; from a
    Saturday or Sunday the count starts on Monday at midnight."""
    moment = start
    if moment.weekday() >= 5:
        moment = (moment + timedelta(days=7 - moment.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


def deadlines(case: Case) -> tuple[datetime, datetime]:
    """When the case must be accepted by, and answered by."""
    return case.opened_at + ACCEPT_WITHIN, add_working_days(case.opened_at, ANSWER_WITHIN_WORKING_DAYS)


def overdue(case: Case, now: datetime) -> list[str]:
    """The deadlines this case has missed and still owes: `accept`, `answer` (a closed case owes none)."""
    if case.status == "closed":
        return []
    accept_by, answer_by = deadlines(case)
    return ([*(["accept"] if case.accepted_at is None and now > accept_by else []),
             *(["answer"] if case.answered_at is None and now > answer_by else [])])


def open_case(store: AlertStore, mention_id: str, title: str, institution: str, by: str, now: datetime,
              handler: str = "") -> Case:
    """A new case on a mention; refused while the mention has one that is not closed."""
    for case in store.list_cases(CaseQuery(mention_id=mention_id)):
        if case.status != "closed":
            raise CaseError(f"mention {mention_id} already has case {case.id} ({case.status})")
    case = Case(mention_id=mention_id, title=title, institution=institution, opened_by=by, opened_at=now,
                history=[CaseEvent(now, by, "opened")])
    if handler:
        case.handler = handler
        case.history.append(CaseEvent(now, by, "assigned", handler))
    return store.put_case(case)


def update_case(store: AlertStore, case_id: str, by: str, now: datetime, *, status: str | None = None,
                handler: str | None = None, response: str | None = None) -> Case:
    """Assign a handler, set the status, note the response (any of them); each change is kept in
    the case's history with who and when. Retried when someone else saved the case meanwhile."""
    if status is not None and status not in CASE_STATUSES:
        raise CaseError(f"status {status!r} is not one of: {', '.join(CASE_STATUSES)}")
    if response is not None and len(response) > MAX_RESPONSE_CHARS:
        raise CaseError(f"the response has {len(response)} characters; at most {MAX_RESPONSE_CHARS}")
    return _retrying(store, case_id, lambda case: _change(case, by, now, status, handler, response))


def _change(case: Case, by: str, now: datetime, status: str | None, handler: str | None,
            response: str | None) -> None:
    events = []
    if handler is not None and handler != case.handler:
        case.handler = handler
        events.append(CaseEvent(now, by, "assigned", handler))
    if response is not None and response.strip() != case.response:
        case.response = response.strip()
        events.append(CaseEvent(now, by, "response", case.response))
    if status is not None and status != case.status:
        if status == "answered" and not case.response:
            raise CaseError("note the response before marking the case answered")
        case.status = status
        events.append(CaseEvent(now, by, "status", status))
    if not events:
        raise CaseError("nothing to change: the case already says that")
    if case.status != "open" and case.accepted_at is None:
        case.accepted_at = now
    if case.answered_at is None and (case.status == "answered" or (case.status == "closed" and case.response)):
        case.answered_at = now
    case.updated_at = now
    case.history.extend(events)


def _retrying(store: AlertStore, case_id: str, change: Callable[[Case], None]) -> Case:
    for _ in range(5):
        case = store.get_case(case_id)
        if case is None:
            raise CaseError(f"no case {case_id!r}")
        change(case)
        try:
            return store.put_case(case)
        except Conflict:
            continue
    raise Conflict(f"case {case_id} keeps changing; try again")


@dataclass
class CaseKpis:
    """Response times over some cases at one moment. A case counts towards a share once its
    deadline has passed or it met it; a case closed without an answer needed none."""

    cases: int = 0
    accept_due: int = 0
    accepted_in_time: int = 0
    answer_due: int = 0
    answered_in_time: int = 0
    overdue: list[tuple[Case, list[str]]] = field(default_factory=list)

    @property
    def accepted_share(self) -> float | None:
        return self.accepted_in_time / self.accept_due if self.accept_due else None

    @property
    def answered_share(self) -> float | None:
        return self.answered_in_time / self.answer_due if self.answer_due else None

    def to_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "accept_due": self.accept_due, "accepted_in_time": self.accepted_in_time,
                "accepted_share": self.accepted_share, "answer_due": self.answer_due,
                "answered_in_time": self.answered_in_time, "answered_share": self.answered_share,
                "overdue": [{"id": c.id, "mention_id": c.mention_id, "title": c.title, "institution": c.institution,
                             "handler": c.handler, "status": c.status, "missed": missed}
                            for c, missed in self.overdue]}


def response_kpis(cases: Iterable[Case], now: datetime) -> CaseKpis:
    """Share accepted within 48 hours, share answered within five working days, and the overdue
    cases (oldest first), over `cases` at `now`."""
    kpis = CaseKpis()
    for case in cases:
        kpis.cases += 1
        accept_by, answer_by = deadlines(case)
        if case.accepted_at is not None or now > accept_by:
            kpis.accept_due += 1
            kpis.accepted_in_time += case.accepted_at is not None and case.accepted_at <= accept_by
        needed = not (case.status == "closed" and case.answered_at is None)
        if needed and (case.answered_at is not None or now > answer_by):
            kpis.answer_due += 1
            kpis.answered_in_time += case.answered_at is not None and case.answered_at <= answer_by
        missed = overdue(case, now)
        if missed:
            kpis.overdue.append((case, missed))
    kpis.overdue.sort(key=lambda item: item[0].opened_at)
    return kpis


__all__ = ["ACCEPT_WITHIN", "ANSWER_WITHIN_WORKING_DAYS", "CaseError", "CaseKpis", "add_working_days", "deadlines",
           "open_case", "overdue", "response_kpis", "update_case"]
