"""`yuqing reanalyze`: score stored mentions again, after a retrain or a change of the `nlp:` rules.

Each mention is read from the store, analysed by the process's analyser and written back (an
upsert). What people corrected stays: the analyser writes its new opinion of a corrected field
beside the person's value (`Mention.model_analysis`), and records its version in
`Mention.model_version`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from yuqing.ingest import Analyser
from yuqing.model import Mention
from yuqing.storage.base import SearchRequest, Store

BATCH = 200


@dataclass
class ReanalyseReport:
    total: int  # mentions the store held for the period when the run started
    done: int = 0
    changed: int = 0  # mentions whose polarity, targets or categories changed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (mention id, reason)


def _decision(m: Mention) -> tuple[object, ...]:
    return m.polarity, m.negative_entities, m.categories


def reanalyse(store: Store, analyser: Analyser, *, since: datetime | None = None,
              progress: Callable[[ReanalyseReport], None] | None = None) -> ReanalyseReport:
    """Re-score every stored mention published at or after `since`, `BATCH` at a time;
    `progress` is called after each batch."""
    report = ReanalyseReport(store.search(SearchRequest(query=None, since=since, limit=1)).total)
    batch: list[Mention] = []

    def flush() -> None:
        before = [_decision(m) for m in batch]
        analyser.analyze_mentions(batch)
        written = store.index_many(batch)
        report.failed += written.failed
        report.done += len(batch)
        report.changed += sum(old != _decision(m) for old, m in zip(before, batch, strict=True))
        batch.clear()
        if progress is not None:
            progress(report)

    for scanned in store.scan(SearchRequest(query=None, since=since), BATCH):
        batch.extend(scanned)
        flush()
    if batch:
        flush()
    return report


__all__ = ["BATCH", "ReanalyseReport", "reanalyse"]
