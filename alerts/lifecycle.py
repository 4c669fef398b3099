"""The life of an alert, grouped per rule + institution, and the operations people perform on it.

    firing ──ack──▶ acknowledged        (no reminders until it resolves or its severity rises)
      │  ▲               │
      ▼  │ silence ends  │ severity rises → firing again, with an `escalated` notice
    silenced             ▼
      └──────────────▶ resolved         (the spike gone for `resolve_after`; or by hand)

`advance` is the one transition function the alert check calls for each rule and institution;
it returns the changed record and the notices to send, and changes nothing itself, so `yuqing
check --dry-run` can show what a check would do. The operations (`acknowledge`, `resolve`,
`silence`, `unsilence`) are what the CLI and the web app call.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from alerts.rules import Rule, subject
from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.model import ANY, OPEN_STATES, Alert, AlertQuery, AlertRecord, Silence, severity_rank

T = TypeVar("T")


class LifecycleError(ValueError):
    """An operation that does not apply (unknown alert, already resolved); the message says which."""


@dataclass
class Step:
    """What one check decided for one rule + institution."""

    record: AlertRecord | None = None  # to save (None: nothing changed)
    notices: list[tuple[str, Alert]] = field(default_factory=list)  # (delivery kind, what it says)


def open_alert(store: AlertStore, rule: Rule, group: str) -> AlertRecord | None:
    """The open alert of one group of the rule (an institution, or a source: `rules.subject`)."""
    group_fields = subject(rule, group)
    found = store.list_alerts(AlertQuery(rule=rule.name, institution=group_fields["institution"],
                                         source=group_fields["source"], states=OPEN_STATES, limit=1))
    return found[0] if found else None


def _notice(record: AlertRecord, kind: str) -> Alert:
    return dataclasses.replace(record.latest, id=record.id, severity=record.severity, notice=kind)


def _silence(record: AlertRecord, silences: Iterable[Silence], now: datetime) -> Silence | None:
    return next((s for s in silences if s.matches(record, now)), None)


def _next_notify(rule: Rule, record: AlertRecord, now: datetime) -> datetime:
    """Reminders back off: cooldown, 2 × cooldown, 4 × … up to max_cooldown."""
    wait = min(rule.cooldown_seconds * 2 ** max(record.notices - 1, 0), rule.max_cooldown_seconds)
    return now + timedelta(seconds=wait)


def _announce(rule: Rule, record: AlertRecord, kind: str, now: datetime) -> tuple[str, Alert]:
    record.notices = 1 if kind == "escalated" else record.notices + 1
    record.next_notify_at = _next_notify(rule, record, now)
    if kind == "repeat":
        return f"repeat-{record.notices}", _notice(record, kind)
    if kind == "escalated":
        return f"escalated-{record.severity}", _notice(record, kind)
    return kind, _notice(record, kind)


def advance(rule: Rule, current: AlertRecord | None, evidence: Alert | None, silences: Iterable[Silence],
            now: datetime, quiet_until: datetime | None = None) -> Step:
    """One check's transition. `evidence` is the spike of this check (None: the rule does not
    hold now); `quiet_until`: no new alert before then (after a manual resolve, or the cooldown
    of an alert migrated from JSON state)."""
    if current is None:
        if evidence is None or (quiet_until is not None and now < quiet_until):
            return Step()
        record = AlertRecord(id=evidence.id, rule=rule.name, institution=evidence.institution,
                             source=evidence.source, severity=evidence.severity, state="firing", started_at=now,
                             updated_at=now, last_seen_at=now, latest=evidence)
        escalated = False
    else:
        record = copy.deepcopy(current)
        if evidence is None:
            if now - record.last_seen_at < timedelta(seconds=rule.resolve_after_seconds):
                return _hold(record, current, silences, now)
            return _resolved(record, now, why=f"the rule has not held since {record.last_seen_at:%Y-%m-%d %H:%M}")
        record.latest = dataclasses.replace(evidence, id=record.id)
        record.last_seen_at = record.updated_at = now
        escalated = severity_rank(evidence.severity) > severity_rank(record.severity)
        if escalated:  # the acknowledgement was for a smaller problem
            record.severity = evidence.severity
            record.acknowledged_by, record.acknowledged_at = "", None
    if record.acknowledged_by:
        record.state = "acknowledged"
        return Step(record)
    silence = _silence(record, silences, now)
    if silence is not None:
        record.state, record.silence_id = "silenced", silence.id
        return Step(record)
    record.state, record.silence_id = "firing", ""
    if escalated:
        return Step(record, [_announce(rule, record, "escalated", now)])
    if record.notices == 0:
        return Step(record, [_announce(rule, record, "firing", now)])
    if record.next_notify_at is not None and now >= record.next_notify_at:
        return Step(record, [_announce(rule, record, "repeat", now)])
    return Step(record)


def _hold(record: AlertRecord, current: AlertRecord, silences: Iterable[Silence], now: datetime) -> Step:
    """The spike paused, not yet for long enough to resolve: only a silence can start or end."""
    if record.state in ("firing", "silenced"):
        silence = _silence(record, silences, now)
        record.state, record.silence_id = ("silenced", silence.id) if silence else ("firing", "")
    if (record.state, record.silence_id) == (current.state, current.silence_id):
        return Step()
    record.updated_at = now
    return Step(record)


def _resolved(record: AlertRecord, now: datetime, why: str, note: str = "") -> Step:
    record.state, record.resolved_at, record.updated_at, record.silence_id = "resolved", now, now, ""
    record.note = note or record.note or why
    # nobody was told it started (silenced throughout): nobody needs telling it ended
    return Step(record, [("resolved", _notice(record, "resolved"))] if record.notices else [])


# -- operations (CLI, web app) -----------------------------------------------------------------

def _get_open(store: AlertStore, alert_id: str) -> AlertRecord:
    record = store.get_alert(alert_id)
    if record is None:
        raise LifecycleError(f"no alert {alert_id!r} (see `yuqing alerts list`)")
    if not record.open:
        raise LifecycleError(f"alert {alert_id} is already resolved (at {record.resolved_at:%Y-%m-%d %H:%M})"
                             if record.resolved_at else f"alert {alert_id} is already resolved")
    return record


def _retrying(store: AlertStore, alert_id: str, change: Callable[[AlertRecord], T]) -> tuple[AlertRecord, T]:
    """Apply `change(record)` and save; on a Conflict (a check wrote meanwhile) read again and redo."""
    for _ in range(5):
        record = _get_open(store, alert_id)
        result = change(record)
        try:
            return store.put_alert(record), result
        except Conflict:
            continue
    raise Conflict(f"alert {alert_id} keeps changing; try again")


def acknowledge(store: AlertStore, alert_id: str, by: str, note: str, now: datetime) -> AlertRecord:
    """Who takes care of it: no more reminders until it resolves or its severity rises."""
    if not by.strip():
        raise LifecycleError("an acknowledgement needs a name (--by NAME)")

    def change(record: AlertRecord) -> None:
        record.state, record.acknowledged_by, record.acknowledged_at = "acknowledged", by.strip(), now
        record.updated_at = now
        if note:
            record.note = note

    return _retrying(store, alert_id, change)[0]


def resolve(store: AlertStore, alert_id: str, by: str, note: str, now: datetime, quiet_seconds: int) -> Step:
    """Close an alert by hand (saved); the step's notices tell whoever was told it started. The
    rule stays quiet for `quiet_seconds` (its cooldown), so a spike that is still there does not
    reopen it at once."""
    saved, step = _retrying(store, alert_id, lambda r: _resolved(r, now, f"resolved by {by or 'hand'}", note))
    state = store.get_rule_state(saved.rule, saved.subject)
    quiet = now + timedelta(seconds=quiet_seconds)
    store.put_rule_state(saved.rule, saved.subject, {**state, "quiet_until": quiet.isoformat()})
    return Step(saved, step.notices)


def quiet_until(store: AlertStore, rule: Rule, group: str) -> datetime | None:
    """No new alert for this rule + group (institution or source) before this time (see `advance`)."""
    state = store.get_rule_state(rule.name, group)
    moments = [datetime.fromisoformat(state["quiet_until"])] if "quiet_until" in state else []
    if "last_alert" in state:  # migrated from the JSON state: the old cooldown
        moments.append(datetime.fromisoformat(state["last_alert"]) + timedelta(seconds=rule.cooldown_seconds))
    return max(moments) if moments else None


def silence(store: AlertStore, by: str, reason: str, until: datetime, now: datetime, institution: str = ANY,
            rule: str = ANY, severity: str = ANY, source: str = ANY) -> Silence:
    """Mute matching alerts until `until`; open alerts it matches are silenced at the next check."""
    if not by.strip() or not reason.strip():
        raise LifecycleError("a silence needs who (--by NAME) and why (--why TEXT)")
    if until <= now:
        raise LifecycleError(f"--until {until.isoformat()} is not in the future")
    s = Silence(until=until, created_by=by.strip(), reason=reason.strip(), created_at=now, institution=institution,
                rule=rule, severity=severity, source=source)
    store.put_silence(s)
    return s


def unsilence(store: AlertStore, silence_id: str) -> None:
    if not store.delete_silence(silence_id):
        raise LifecycleError(f"no silence {silence_id!r} (see `yuqing alerts list --silences`)")


__all__ = ["LifecycleError", "Step", "acknowledge", "advance", "open_alert", "quiet_until", "resolve", "silence",
           "unsilence"]
