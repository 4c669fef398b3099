"""Moving the JSON alert state of yuqing ≤ 0.1 into the alert store, once, on first start.

- `DATA_DIR/alerts/log.jsonl` (every alert raised): one resolved alert each;
- `DATA_DIR/alerts/state.json` (last alert per rule + institution, for the cooldown): per-rule
  state `{"last_alert": ...}`, which keeps the old cooldown;
- `DATA_DIR/spool/alerts/*.json` (undelivered alert × channel): pending deliveries, same key as a
  new firing notice would get.

Safe to repeat and to run from two processes at once (a file lock; records keep their ids). The
JSON files are renamed `*.migrated` (spool files are removed once stored), so nothing is read
twice; a damaged line or file is reported with its place and left for a human.
"""
from __future__ import annotations

import fcntl
import json
import logging
from pathlib import Path

from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.model import Alert, AlertRecord, Delivery
from yuqing.datadir import DataDir

log = logging.getLogger("yuqing.alerts")


def _log_records(path: Path, store: AlertStore) -> int:
    moved = 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                alert = Alert.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                log.warning("%s line %d: not an alert record (%s); not migrated", path, number, e)
                continue
            record = AlertRecord(id=alert.id, rule=alert.rule, institution=alert.institution, severity=alert.severity,
                                 state="resolved", started_at=alert.bucket_start, updated_at=alert.created_at,
                                 last_seen_at=alert.created_at, resolved_at=alert.created_at, latest=alert, notices=1)
            try:
                store.put_alert(record)
                moved += 1
            except Conflict:
                pass  # migrated already (an earlier, interrupted run)
    return moved


def _cooldowns(path: Path, store: AlertStore) -> int:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = [(key.split("|", 1), value["last_alert"]) for key, value in data.items()]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        # the old code treated a damaged file the same way: at most one repeated alert
        log.error("%s is not valid alert state (%s); cooldowns not migrated", path, e)
        return 0
    for (rule, institution), last_alert in items:
        store.put_rule_state(rule, institution, {**store.get_rule_state(rule, institution), "last_alert": last_alert})
    return len(items)


def _spooled(folder: Path, store: AlertStore) -> int:
    moved = 0
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            alert = Alert.from_dict(data["alert"])
            delivery = Delivery(alert_id=alert.id, channel=data["channel"], kind="firing", notice=alert,
                                created_at=alert.created_at, due_at=alert.created_at,
                                attempts=int(data.get("attempts", 0)), last_error=str(data.get("last_error", "")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("unreadable spooled alert %s (%s: %s); not migrated, left in place", path, type(e).__name__, e)
            continue
        store.add_delivery(delivery)
        path.unlink()
        moved += 1
    return moved


def migrate_json_state(data_dir: Path, store: AlertStore) -> list[str]:
    """Move whatever JSON alert state `data_dir` still has into `store`; one line per file moved."""
    paths = DataDir(data_dir)
    alerts_dir, spool = paths.alerts, paths.spool("alerts")
    sources = [alerts_dir / "log.jsonl", alerts_dir / "state.json"]
    if not any(p.exists() for p in sources) and not any(spool.glob("*.json")):
        return []
    alerts_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with open(alerts_dir / "migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log_path, state_path = sources
        if log_path.exists():
            lines.append(f"{log_path}: {_log_records(log_path, store)} alert(s) moved into the alert store")
            log_path.rename(log_path.with_name(log_path.name + ".migrated"))
        if state_path.exists():
            lines.append(f"{state_path}: {_cooldowns(state_path, store)} cooldown(s) moved into the alert store")
            state_path.rename(state_path.with_name(state_path.name + ".migrated"))
        if spool.is_dir():
            moved = _spooled(spool, store)
            if moved:
                lines.append(f"{spool}: {moved} undelivered notice(s) moved into the alert store")
    for line in lines:
        log.warning("%s", line)
    return lines


__all__ = ["migrate_json_state"]
