"""One alert check: evaluate every rule for every institution, raise, record and deliver.

State under DATA_DIR/alerts/: `state.json` (when each rule+institution last alerted, for the
cooldown), `log.jsonl` (every alert raised, one JSON object per line; the digest reads it) and a
lock file so two checks (scheduler and command line) never raise the same alert twice.
"""
from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from alerts import evidence
from alerts.delivery import Deliverer, Spool
from alerts.model import Alert
from alerts.rules import Rule, Spike
from alerts.setup import AlertSetup, load
from yuqing.config import Config
from yuqing.datadir import DataDir, write_json
from yuqing.model import Institution
from yuqing.storage.base import Store

log = logging.getLogger("yuqing.alerts")


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "check.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class AlertState:
    """Last alert time per rule+institution (the cooldown), persisted as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.data = {}
        except ValueError as e:
            # a damaged state file costs at most one repeated alert, never a missed one
            log.error("alert state %s is not valid JSON (%s); starting without cooldowns", path, e)
            self.data = {}

    @staticmethod
    def _key(rule: Rule, institution: Institution) -> str:
        return f"{rule.name}|{institution.name}"

    def cooling(self, rule: Rule, institution: Institution, now: datetime) -> bool:
        last = self.data.get(self._key(rule, institution), {}).get("last_alert")
        return last is not None and now - datetime.fromisoformat(last) < timedelta(seconds=rule.cooldown_seconds)

    def record(self, rule: Rule, institution: Institution, alert: Alert) -> None:
        self.data[self._key(rule, institution)] = {"last_alert": alert.created_at.isoformat(), "alert_id": alert.id}
        write_json(self.path, self.data)


def log_path(config: Config) -> Path:
    return DataDir(config.data_dir).alerts / "log.jsonl"


def read_log(config: Config, since: datetime, until: datetime) -> list[Alert]:
    """Alerts raised with bucket_start in [since, until), oldest first; damaged lines are skipped
    with a warning naming the line."""
    path = log_path(config)
    out: list[Alert] = []
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                alert = Alert.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                log.warning("%s line %d: not an alert record (%s); skipped", path, number, e)
                continue
            if since <= alert.bucket_start < until:
                out.append(alert)
    return out


def _append_log(path: Path, alert: Alert) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(alert.to_dict(), ensure_ascii=False) + "\n")


def _build_alert(config: Config, store: Store, rule: Rule, institution: Institution, spike: Spike,
                 now: datetime, labels: dict[str, str]) -> Alert:
    polarity = None if rule.polarity == "any" else rule.polarity
    mentions = evidence.fetch(store, spike.bucket_start, spike.bucket_end, institution.name, polarity)
    return Alert(rule=rule.name, institution=institution.name, polarity=rule.polarity,
                 bucket_start=spike.bucket_start, bucket_end=spike.bucket_end, count=spike.count,
                 baseline=round(spike.baseline, 2), score=round(spike.score, 4), created_at=now,
                 mentions=[evidence.quote(m, labels, config.tz) for m in evidence.riskiest(mentions, rule.top)],
                 categories=evidence.category_counts(mentions, labels),
                 keywords=evidence.keywords(mentions, [institution]),
                 channels=list(rule.channels))


def check(config: Config, store: Store, now: datetime | None = None, setup: AlertSetup | None = None) -> list[Alert]:
    """Evaluate all rules at `now` (default: the current time), raise new alerts (respecting each
    rule's cooldown), record them and deliver them, then retry anything spooled earlier.
    Returns the alerts raised by this check."""
    if now is not None and now.tzinfo is None:
        raise ValueError(f"alerts.check: now={now.isoformat()} must be timezone-aware")
    setup = setup or load(config)
    now = (now or datetime.now(config.tz)).astimezone(config.tz)
    spool = Spool(setup.spool_dir)
    raised: list[Alert] = []
    with _exclusive(setup.data_dir):
        try:
            state = AlertState(setup.data_dir / "state.json")
            labels = evidence.category_labels(config)
            for rule in setup.rules:
                for institution in rule.institutions:
                    if state.cooling(rule, institution, now):
                        continue
                    spike = rule.evaluate(store, institution, now)
                    if spike is None:
                        continue
                    alert = _build_alert(config, store, rule, institution, spike, now, labels)
                    for channel in rule.channels:  # spooled first: from here on it cannot be lost
                        spool.put(alert, channel)
                    _append_log(log_path(config), alert)
                    state.record(rule, institution, alert)
                    log.warning("alert raised: %s", alert.summary())
                    raised.append(alert)
        finally:  # alerts raised earlier still go out when the store is down now
            Deliverer(setup.channels, spool, setup.retry_delays).flush()
    return raised
