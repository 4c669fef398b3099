"""`yuqing import`: mentions from JSON Lines, analysed and stored; bad lines reported, never fatal."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from yuqing.config import Config
from yuqing.model import Mention
from yuqing.storage.base import IndexReport, Store

BATCH = 500
REQUIRED = ("url", "published_at", "source")


@dataclass
class ImportReport:
    lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    index: IndexReport = field(default_factory=IndexReport)

    @property
    def failed(self) -> list[tuple[str, str]]:
        return self.index.failed

    @property
    def stored(self) -> int:
        return self.index.created + self.index.updated

    def summary(self, name: str) -> str:
        bad = ""
        if self.bad_lines:
            numbers = ", ".join(str(n) for n, _ in self.bad_lines[:20])
            more = f" and {len(self.bad_lines) - 20} more" if len(self.bad_lines) > 20 else ""
            bad = f"; {len(self.bad_lines)} bad line(s) skipped: line {numbers}{more}"
        failed = f"; {len(self.failed)} not stored" if self.failed else ""
        return (f"{name}: {self.lines} line(s) read, {self.stored} mention(s) stored "
                f"({self.index.created} new, {self.index.updated} updated){bad}{failed}")


def mention_from_record(record: Any, config: Config) -> Mention:
    """One import record → Mention. Raises ValueError saying what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED if not record.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not (record.get("title") or record.get("content")):
        raise ValueError("needs a title or content")
    for key in ("url", "title", "content", "source", "author", "published_at"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"{key} must be a string")
    try:
        published = datetime.fromisoformat(record["published_at"].replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"published_at {record['published_at']!r} is not ISO 8601") from None
    if published.tzinfo is None:
        published = published.replace(tzinfo=config.tz)
    return Mention(url=record["url"], source=record["source"], title=record.get("title") or "",
                   content=record.get("content") or "", author=record.get("author") or "",
                   published_at=published)


def _read(path: Path, config: Config, report: ImportReport) -> Iterator[Mention]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                yield mention_from_record(json.loads(line), config)
            except json.JSONDecodeError as e:
                report.bad_lines.append((line_no, f"not JSON ({e.msg} at column {e.colno})"))
            except ValueError as e:
                report.bad_lines.append((line_no, str(e)))


def import_jsonl(path: Path, config: Config, store: Store, analyzer: Any) -> ImportReport:
    """Read, analyse and store in batches; a replay updates instead of duplicating. The caller owns
    (and closes) the store."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    report = ImportReport()
    batch: list[Mention] = []
    for mention in _read(path, config, report):
        batch.append(mention)
        if len(batch) >= BATCH:
            _store_batch(batch, store, analyzer, report)
            batch = []
    if batch:
        _store_batch(batch, store, analyzer, report)
    return report


def _store_batch(batch: list[Mention], store: Store, analyzer: Any, report: ImportReport) -> None:
    analyzer.analyze_mentions(batch)
    report.index += store.index_many(batch)
