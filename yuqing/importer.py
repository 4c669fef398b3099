"""`yuqing import`: mentions from JSON Lines through the one ingest path (`yuqing.ingest`), so an
imported post is validated, analysed, filtered and stored (or spooled) by the same rules as a
crawled one. Bad lines (not UTF-8, not JSON, longer than MAX_LINE_BYTES, refused by the ingest path)
are reported with their line number and go to the reject log; never fatal. The file is read one
bounded line at a time, so memory stays bounded whatever is in it. When the disk fills up, the
report says which lines are stored and where the import stopped."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any

from yuqing.ingest import MAX_CONTENT_CHARS, MAX_TITLE_CHARS, Ingest, IngestReport
from yuqing.lines import decode_line
from yuqing.model import Mention, Rejected

BATCH = 500
# The longest line read: a longer one is skipped (read through in small pieces, never held) and reported.
MAX_LINE_BYTES = 1 << 20
_SKIP_CHUNK = 1 << 16
REQUIRED = ("url", "published_at", "source")
TEXT_FIELDS = ("url", "title", "content", "source", "author", "published_at", "platform", "platform_id")


@dataclass
class ImportReport:
    lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    ingest: IngestReport = field(default_factory=IngestReport)
    stopped: str = ""  # why the import stopped before the end of the file (the disk is full)

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
        cut = (f"; {self.ingest.truncated} cut to the maximum length kept ({MAX_TITLE_CHARS:,} characters of title, "
               f"{MAX_CONTENT_CHARS:,} of content)" if self.ingest.truncated else "")
        stopped = f"; STOPPED: {self.stopped}" if self.stopped else ""
        return (f"{name}: {self.lines} line(s) read, {self.stored} mention(s) stored "
                f"({index.created} new, {index.updated} updated){bad}{filtered}{spooled}{failed}{cut}{stopped}")


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


def _lines(f: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line of `f`; None for a line longer than MAX_LINE_BYTES."""
    number = 0
    while raw := f.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := f.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, raw


def _record(raw: bytes | None, line_no: int, where: str, path: Path, tz: tzinfo) -> Mention | Rejected:
    if raw is None:
        return Rejected("", path.name, f"line longer than {MAX_LINE_BYTES:,} bytes (not read)", {}, where)
    try:
        line = decode_line(raw, line_no)
        return mention_from_record(json.loads(line), tz)
    except json.JSONDecodeError as e:
        return Rejected("", path.name, f"not JSON ({e.msg} at column {e.colno})", {"line": line}, where)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested thousands deep
        reason = str(e) if isinstance(e, ValueError) else "JSON nested too deeply"
        return Rejected("", path.name, reason, {"line": raw.decode("utf-8", "replace")}, where)


def _read(path: Path, tz: tzinfo, report: ImportReport) -> Iterator[tuple[int, Mention | Rejected]]:
    with path.open("rb") as f:
        for line_no, raw in _lines(f):
            if raw is not None and not raw.strip():
                continue
            report.lines += 1
            yield line_no, _record(raw, line_no, f"{path}:{line_no}", path, tz)


def import_jsonl(path: Path, ingest: Ingest, tz: tzinfo) -> ImportReport:
    """Read and ingest in batches; a replay updates instead of duplicating."""
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a JSON Lines file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    report = ImportReport()
    report.ingest += ingest.replay_spool(path.name)
    batch: list[tuple[int, Mention | Rejected]] = []
    try:
        for entry in _read(path, tz, report):
            batch.append(entry)
            if len(batch) >= BATCH:
                _ingest(batch, path, ingest, report)
                batch = []
        if batch:
            _ingest(batch, path, ingest, report)
    except OSError as e:  # the disk is full (or a file-size limit): say how far the import got
        first = batch[0][0] if batch else report.lines
        at = f" ({e.filename})" if e.filename else ""
        report.stopped = (f"{e.strerror or e}{at} at line {first}: lines before it are done, "
                          f"lines {first} onwards were not stored; free space and import again "
                          "(the lines already stored are updated, not duplicated)")
    return report


def _ingest(batch: list[tuple[int, Mention | Rejected]], path: Path, ingest: Ingest, report: ImportReport) -> None:
    result = ingest.ingest([item for _, item in batch], path.name, [f"{path}:{n}" for n, _ in batch])
    report.ingest += result
    prefix = f"{path}:"
    report.bad_lines.extend((int(where.removeprefix(prefix)), reason) for where, reason in result.rejects)
