"""Moving and keeping data: `yuqing export`, `yuqing migrate --to elasticsearch`, `yuqing prune` and
the scheduled retention job. The work itself is in the core (`Store.scan`, `Store.prune`,
`yuqing.export`); this layer picks the stores, shows progress and keeps the migration's checkpoint.

Progress bars are Rich's (MIT), drawn on stderr only when it is a terminal, so a script or a log
gets the one summary line and nothing else.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.services import Services
from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.model import CaseQuery
from yuqing.config import ConfigError
from yuqing.datadir import write_json
from yuqing.storage.base import SCAN_BATCH, SearchRequest

log = logging.getLogger("yuqing.dataops")
# Ids shown when the migration's counts differ; the rest are counted, not listed.
SHOWN_IDS = 5


@contextmanager
def progress(total: int, what: str, done: int = 0) -> Iterator[Callable[[int], None]]:
    """A function to call with each batch's size: a bar on stderr when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task(what, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


# -- export --------------------------------------------------------------------------------------

def export(services: Services, request: SearchRequest, fmt: str, out: Path, batch_size: int = SCAN_BATCH) -> int:
    """Every mention matching `request` into `out` (atomically); how many were written."""
    from yuqing.export import counted, export_file

    store = services.store
    total = store.search(SearchRequest(query=request.query, since=request.since, until=request.until,
                                       polarity=request.polarity, source=request.source,
                                       institution=request.institution, limit=1)).total
    written = 0

    def seen(n: int) -> None:
        nonlocal written
        written += n
        advance(n)

    with progress(total, f"export {out.name}") as advance:
        export_file(fmt, counted(store.scan(request, batch_size), seen), out)
    return written


# -- prune and retention -------------------------------------------------------------------------

def prune(services: Services, older_than_seconds: int, dry_run: bool = False) -> tuple[int, datetime]:
    """Delete (or with `dry_run` count) the mentions published more than `older_than_seconds` ago;
    (how many, the cut-off)."""
    before = datetime.now(services.config.tz) - timedelta(seconds=older_than_seconds)
    return services.store.prune(before, dry_run=dry_run), before


def retention(services: Services) -> int:
    """The scheduled job of `store.retention`: prune what is older; how many were deleted."""
    keep = services.config.store.retention_seconds
    if keep is None:
        return 0
    n, before = prune(services, keep)
    log.info("retention: pruned %d mention(s) published before %s", n, before.isoformat())
    return n


# -- migrate -------------------------------------------------------------------------------------

@dataclass
class MigrateReport:
    source: str
    target: str
    copied: int = 0
    resumed_after: int = 0  # mentions a killed run had already copied
    setup: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (mention id, reason)
    alerts: dict[str, int] = field(default_factory=dict)  # kind → records copied
    source_count: int = 0
    target_count: int = 0
    missing: list[str] = field(default_factory=list)  # in the source, not in the target (first SHOWN_IDS)
    missing_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and self.source_count == self.target_count and not self.missing_count

    def differences(self) -> list[str]:
        """What the final count check found, one line each (none when the counts agree)."""
        lines = []
        if self.missing_count:
            rest = self.missing_count - len(self.missing)
            shown = ", ".join(self.missing) + (f" and {rest} more" if rest else "")
            lines.append(f"{self.missing_count} mention(s) of the embedded store are not in {self.target}: {shown}")
        extra = self.target_count - (self.source_count - self.missing_count)
        if extra > 0:
            lines.append(f"{self.target} holds {extra} mention(s) the embedded store does not (written there by "
                         "something else, or pruned here since)")
        return lines

    def summary(self) -> str:
        resumed = f", resumed after {self.resumed_after} copied before" if self.resumed_after else ""
        alerts = ", ".join(f"{n} {kind}" for kind, n in self.alerts.items())
        check = "counts agree" if self.source_count == self.target_count and not self.missing_count else "COUNTS DIFFER"
        return (f"migrated {self.copied} mention(s) from {self.source} to {self.target}{resumed}; alert state: "
                f"{alerts}; {self.source_count} in the embedded store, {self.target_count} in Elasticsearch: {check}")


def _copy_alert_state(source: Any, target: AlertStore) -> dict[str, int]:
    """Every alert, notice, rule state, silence and case, written through the target's own methods. Safe to
    repeat: an alert already there at the same version is left alone, the rest are overwrites."""
    alerts, deliveries, states, silences = source.snapshot()
    for record in alerts:
        _put_versioned(target.put_alert, target.get_alert, record)
    for d in deliveries:
        target.put_delivery(d)
    for rule, institution, state in states:
        target.put_rule_state(rule, institution, state)
    for s in silences:
        target.put_silence(s)
    cases = source.list_cases(CaseQuery(limit=2**31))
    for case in cases:
        _put_versioned(target.put_case, target.get_case, case)
    return {"alerts": len(alerts), "notices": len(deliveries), "rule states": len(states), "silences": len(silences),
            "cases": len(cases)}


def _put_versioned(put: Callable[[Any], Any], get: Callable[[str], Any], record: Any) -> None:
    """Copy a versioned record (an alert, a case) keeping its version: put saves version+1, so it is
    handed the version before the stored one; one already there at that version is left alone."""
    previous = type(record).from_dict({**record.to_dict(), "version": record.version - 1})
    try:
        put(previous)
    except Conflict:
        there = get(record.id)
        if there is None or there.version < record.version:
            raise


def migrate_to_elasticsearch(services: Services, batch_size: int) -> MigrateReport:
    """Copy the embedded store (mentions, then alert state) into the configured cluster. After each
    batch the cluster has acknowledged, the last rowid is kept in `DATA_DIR/migrate-elasticsearch.json`;
    a run killed at any point resumes after it. Ids are deterministic, so the batch in flight when
    it died is written again as upserts, never as copies."""
    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
    from yuqing.alertstore.sqlite import SqliteAlertStore
    from yuqing.storage.elasticsearch import ElasticsearchStore
    from yuqing.storage.sqlite import SqliteStore

    config = services.config
    path = config.sqlite_path
    if not path.is_file():
        raise ConfigError(config.path, "store.sqlite.path", f"no embedded store at {path} to migrate")
    es = config.store.elasticsearch
    report = MigrateReport(str(path), f"{es.url} ({es.index_prefix}-mentions)")
    checkpoint_file = services.data.migrate_checkpoint
    wanted = {"source": str(path), "url": es.url, "index_prefix": es.index_prefix}
    checkpoint = _read_checkpoint(checkpoint_file)
    if {k: checkpoint.get(k) for k in wanted} != wanted:
        checkpoint = {**wanted, "after_rowid": None, "copied": 0}
    report.resumed_after = checkpoint["copied"]

    source = SqliteStore(path, tz=config.tz)
    target = ElasticsearchStore(es, tz=config.tz, retention_seconds=config.store.retention_seconds)
    source_alerts = SqliteAlertStore(path)
    target_alerts = ElasticsearchAlertStore(es)
    try:
        report.setup = [*target.setup(), *target_alerts.setup()]
        report.source_count = source.count()
        with progress(report.source_count, "migrate", done=checkpoint["copied"]) as advance:
            for last_rowid, batch in source.scan_rows(batch_size=batch_size, after_rowid=checkpoint["after_rowid"]):
                written = target.index_many(batch)
                report.failed.extend(written.failed)
                report.copied += len(batch) - len(written.failed)
                checkpoint["after_rowid"] = last_rowid
                checkpoint["copied"] += len(batch)
                write_json(checkpoint_file, checkpoint)
                advance(len(batch))
        report.alerts = _copy_alert_state(source_alerts, target_alerts)
        report.target_count = target.count()
        if report.target_count != report.source_count or report.failed:
            for ids in source.ids():
                missing = sorted(set(ids) - target.existing(ids))
                report.missing_count += len(missing)
                report.missing.extend(missing[:SHOWN_IDS - len(report.missing)])
    finally:
        for store in (source, target, source_alerts, target_alerts):
            store.close()
    if report.ok:
        checkpoint_file.unlink(missing_ok=True)  # done: a later run copies everything again
    return report


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s cannot be read (%s): starting the migration from the beginning", path, e)
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["MigrateReport", "export", "migrate_to_elasticsearch", "progress", "prune", "retention"]
