"""`yuqing import`: mentions from JSON Lines through the one ingest path (`yuqing.ingest`), so an
imported post is validated, analysed, filtered and stored (or spooled) by the same rules as a
crawled one. Bad lines are reported with their line number and go to the reject log; never fatal."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from yuqing.ingest import Ingest, IngestReport
from yuqing.model import Mention, Rejected

BATCH = 500
REQUIRED = ("url", "published_at", "source")
TEXT_FIELDS = ("url", "title", "content", "source", "author", "published_at", "platform", "platform_id")


@dataclass
class ImportReport:
    lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    ingest: IngestReport = field(default_factory=IngestReport)

    @property
    def failed(self) -> list[tuple[str, str]]:
        return self.ingest.index.failed

    @property
    def stored(self) -> int:
        return self.ingest.stored

    def summary(self, name: str) -> str:
        index = self.ingest.index
        bad = ""
        if self.bad_lines:
            numbers = ", ".join(str(n) for n, _ in self.bad_lines[:20])
            more = f" and {len(self.bad_lines) - 20} more" if len(self.bad_lines) > 20 else ""
            bad = f"; {len(self.bad_lines)} bad line(s) skipped: line {numbers}{more}"
        filtered = (f"; {self.ingest.filtered} not about a watched institution" if self.ingest.filtered else "")
        spooled = f"; {self.ingest.spooled} spooled (the store is down)" if self.ingest.spooled else ""
        failed = f"; {len(self.failed)} not stored" if self.failed else ""
        return (f"{name}: {self.lines} line(s) read, {self.stored} mention(s) stored "
                f"({index.created} new, {index.updated} updated){bad}{filtered}{spooled}{failed}")


def mention_from_record(record: Any, tz: tzinfo) -> Mention:
    """One import record → Mention. Raises ValueError saying what is wrong with it. `platform` and
    `platform_id` (optional) give the post the id a crawl of the same platform gives it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED if not record.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not (record.get("title") or record.get("content")):
        raise ValueError("needs a title or content")
    for key in TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"{key} must be a string")
    if bool(record.get("platform")) != bool(record.get("platform_id")):
        raise ValueError("platform and platform_id go together (e.g. \"weibo\" and the post's mid)")
    try:
        published = datetime.fromisoformat(record["published_at"].replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"published_at {record['published_at']!r} is not ISO 8601") from None
    if published.tzinfo is None:
        published = published.replace(tzinfo=tz)
    return Mention(url=record["url"], source=record["source"], title=record.get("title") or "",
                   content=record.get("content") or "", author=record.get("author") or "",
                   published_at=published, platform=record.get("platform") or "",
                   platform_id=record.get("platform_id") or "")


def _read(path: Path, tz: tzinfo, report: ImportReport) -> Iterator[tuple[str, Mention | Rejected]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            report.lines += 1
            where = f"{path}:{line_no}"
            try:
                yield where, mention_from_record(json.loads(line), tz)
            except json.JSONDecodeError as e:
                yield where, Rejected("", path.name, f"not JSON ({e.msg} at column {e.colno})", {"line": line}, where)
            except ValueError as e:
                yield where, Rejected("", path.name, str(e), {"line": line}, where)


def import_jsonl(path: Path, ingest: Ingest, tz: tzinfo) -> ImportReport:
    """Read and ingest in batches; a replay updates instead of duplicating."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    report = ImportReport()
    report.ingest += ingest.replay_spool(path.name)
    batch: list[tuple[str, Mention | Rejected]] = []
    for entry in _read(path, tz, report):
        batch.append(entry)
        if len(batch) >= BATCH:
            _ingest(batch, path, ingest, report)
            batch = []
    if batch:
        _ingest(batch, path, ingest, report)
    return report


def _ingest(batch: list[tuple[str, Mention | Rejected]], path: Path, ingest: Ingest, report: ImportReport) -> None:
    result = ingest.ingest([item for _, item in batch], path.name, [where for where, _ in batch])
    report.ingest += result
    prefix = f"{path}:"
    report.bad_lines.extend((int(where.removeprefix(prefix)), reason) for where, reason in result.rejects)
