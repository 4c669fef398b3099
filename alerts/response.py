"""Response times as the institution's own guidance measures them: a negative case accepted (受理)
within 48 hours and answered (答复) within five working days, with the overdue ones listed.

The one place the digest gets them from. Until cases land (the web app's case handling), the cases
are the alerts: accepted when acknowledged, answered when resolved. Working days are Monday to
Friday in the configured timezone; public holidays are not modelled, so a deadline across one
comes early, never late.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from yuqing.alertstore.model import AlertRecord

ACCEPT_WITHIN = timedelta(hours=48)
ANSWER_WITHIN_WORKING_DAYS = 5


def add_working_days(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` working days (Mon–Fri), same time of day; from a weekend day the
    count starts on Monday at midnight."""
    moment = start
    if moment.weekday() >= 5:
        moment = (moment + timedelta(days=7 - moment.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    while days > 0:
        moment += timedelta(days=1)
        days -= moment.weekday() < 5
    return moment


@dataclass
class Late:
    """A case past a deadline it still owes."""

    title: str
    institution: str
    opened_at: datetime
    missed: list[str]  # 受理, 答复


@dataclass
class ResponseTimes:
    """Over the cases opened in a period, at one moment. A case counts towards a share once its
    deadline has passed or it met it."""

    cases: int = 0
    accept_due: int = 0
    accepted_in_time: int = 0
    answer_due: int = 0
    answered_in_time: int = 0
    overdue: list[Late] = field(default_factory=list)

    @property
    def accepted_share(self) -> float | None:
        return self.accepted_in_time / self.accept_due if self.accept_due else None

    @property
    def answered_share(self) -> float | None:
        return self.answered_in_time / self.answer_due if self.answer_due else None


def _deadline(done: datetime | None, due: datetime, now: datetime) -> str:
    """One deadline of one case: open (not due yet, not done), in time, missed (done late) or late
    (past due and still owed)."""
    if done is not None or now > due:
        return "late" if done is None else ("in time" if done <= due else "missed")
    return "open"


def response_times(records: Iterable[AlertRecord], now: datetime) -> ResponseTimes:
    """The response times of these alerts at `now` (accepted = acknowledged, answered = resolved)."""
    out = ResponseTimes()
    for r in records:
        out.cases += 1
        accept = _deadline(r.acknowledged_at, r.started_at + ACCEPT_WITHIN, now)
        answer = _deadline(r.resolved_at, add_working_days(r.started_at, ANSWER_WITHIN_WORKING_DAYS), now)
        out.accept_due += accept != "open"
        out.accepted_in_time += accept == "in time"
        out.answer_due += answer != "open"
        out.answered_in_time += answer == "in time"
        missed = [label for label, state in (("受理", accept), ("答复", answer)) if state == "late"]
        if missed:
            out.overdue.append(Late(r.latest.title, r.institution, r.started_at, missed))
    out.overdue.sort(key=lambda late: late.opened_at)
    return out
