"""One alert check: evaluate every rule for every institution, advance each alert's lifecycle,
record and deliver the notices. Everything is kept in the alert store (`yuqing.alertstore`); a
lock file (DATA_DIR/alerts/check.lock) keeps two checks on one data dir (scheduler and command
line) from raising the same alert twice, and an alert's version keeps a concurrent `ack` from
being overwritten.
"""
from __future__ import annotations

import fcntl
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from alerts import evidence, lifecycle
from alerts.delivery import Deliverer, queue
from alerts.rules import Rule, Spike, subject
from alerts.setup import AlertSetup, load
from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.model import Alert
from yuqing.config import Config
from yuqing.model import Institution
from yuqing.storage.base import Store

log = logging.getLogger("yuqing.alerts")
CONFLICT_RETRIES = 5


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """One check (or notice-sending operation) at a time per data dir."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "check.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _search_link(setup: AlertSetup, config: Config, group: dict[str, str], spike: Spike) -> str:
    if not setup.search_url:
        return ""
    query = urlencode({**{k: v for k, v in group.items() if v},
                       "from": spike.bucket_start.astimezone(config.tz).isoformat(),
                       "to": spike.bucket_end.astimezone(config.tz).isoformat()})
    return f"{setup.search_url}{'&' if '?' in setup.search_url else '?'}{query}"


def _build_alert(config: Config, setup: AlertSetup, store: Store, rule: Rule, institution: Institution,
                 spike: Spike, now: datetime, labels: dict[str, str]) -> Alert:
    polarity = None if rule.polarity == "any" else rule.polarity
    group = subject(rule, institution.name)
    mentions = evidence.fetch(store, spike.bucket_start, spike.bucket_end, group["institution"] or None, polarity,
                              source=group["source"] or None)
    reposts = {m.id: n for m, n in evidence.merge_reposts(mentions)}
    quoted = evidence.riskiest([m for m in mentions if m.id in reposts], rule.top)
    return Alert(rule=rule.name, **group, kind=rule.TYPE, total=spike.total, polarity=rule.polarity,
                 bucket_start=spike.bucket_start, bucket_end=spike.bucket_end, count=spike.count,
                 baseline=round(spike.baseline, 2), score=round(spike.score, 4), created_at=now,
                 mentions=[evidence.quote(m, labels, config.tz, reposts[m.id]) for m in quoted],
                 categories=evidence.category_counts(mentions, labels),
                 keywords=list(dict.fromkeys([*spike.terms, *evidence.keywords(mentions, [institution])])),
                 channels=list(rule.channels), severity=spike.severity,
                 sources=Counter(m.source for m in mentions).most_common(5),
                 search_url=_search_link(setup, config, group, spike))


def _advance(alert_store: AlertStore, rule: Rule, institution: str, spike_alert: Alert | None, now: datetime,
             dry_run: bool) -> lifecycle.Step:
    """Advance and save one group's alert; on a Conflict (an `ack` meanwhile) start from the new copy."""
    for _ in range(CONFLICT_RETRIES):
        current = lifecycle.open_alert(alert_store, rule, institution)
        step = lifecycle.advance(rule, current, spike_alert, alert_store.silences(active_at=now), now,
                                 lifecycle.quiet_until(alert_store, rule, institution))
        if step.record is None or dry_run:
            return step
        try:
            step.record = alert_store.put_alert(step.record)
            return step
        except Conflict:
            continue
    raise Conflict(f"alert of rule {rule.name} for {institution} kept changing during the check")


def check(config: Config, store: Store, alert_store: AlertStore, now: datetime | None = None,
          setup: AlertSetup | None = None, dry_run: bool = False) -> list[Alert]:
    """Evaluate all rules at `now` (default: the current time), advance every alert (new,
    reminder, escalation, resolved), record the notices and deliver them, then retry anything
    still pending from earlier. Returns the notices of this check (one per alert and kind).
    `dry_run`: decide and return the notices, but save and send nothing."""
    if now is not None and now.tzinfo is None:
        raise ValueError(f"alerts.check: now={now.isoformat()} must be timezone-aware")
    setup = setup or load(config)
    now = (now or datetime.now(config.tz)).astimezone(config.tz)
    notices: list[Alert] = []
    with exclusive(setup.data_dir):
        try:
            labels = evidence.category_labels(config)
            for rule in setup.rules:
                for institution in rule.institutions:
                    spike = rule.evaluate(store, institution, now)
                    spike_alert = None if spike is None else _build_alert(config, setup, store, rule, institution,
                                                                          spike, now, labels)
                    step = _advance(alert_store, rule, institution.name, spike_alert, now, dry_run)
                    for kind, notice in step.notices:
                        if not dry_run:
                            queue(alert_store, notice, kind, rule.channels, now, setup.quiet_hours)
                        log.warning("alert %s: %s", notice.id, notice.summary())
                        notices.append(notice)
        finally:  # notices raised earlier still go out when the mention store is down now
            if not dry_run:
                Deliverer(setup.channels, alert_store, setup.retry_delays).flush(now)
    return notices


def resolve(config: Config, alert_store: AlertStore, alert_id: str, by: str, note: str,
            now: datetime | None = None, setup: AlertSetup | None = None) -> lifecycle.Step:
    """Resolve an alert by hand and send its resolved notice to the channels of its rule."""
    setup = setup or load(config)
    now = (now or datetime.now(config.tz)).astimezone(config.tz)
    with exclusive(setup.data_dir):
        record = alert_store.get_alert(alert_id)
        rule = next((r for r in setup.rules if record is not None and r.name == record.rule), None)
        quiet = rule.cooldown_seconds if rule is not None else 0
        step = lifecycle.resolve(alert_store, alert_id, by, note, now, quiet)
        # a rule no longer in `setup` (a saved search's, resolved from the command line): the channels
        # its alert was raised on
        channels = rule.channels if rule is not None else tuple(
            c for c in (record.latest.channels if record is not None else ()) if c in setup.channels)
        for kind, notice in step.notices:
            queue(alert_store, notice, kind, channels, now, setup.quiet_hours)
        Deliverer(setup.channels, alert_store, setup.retry_delays).flush(now)
    return step
