"""Files that keep what could not go to the store: the spool (mentions waiting for a store that was
down, replayed by the next ingest) and the reject log (items that failed validation, kept for a
person to look at). Both are JSON Lines under DATA_DIR (paths from `yuqing.datadir.DataDir`)."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from yuqing.datadir import DataDir, safe_name
from yuqing.model import Mention
from yuqing.storage.base import IndexReport, Store

log = logging.getLogger(__name__)

REPLAY_BATCH = 200
_CLAIM = ".replaying-"


class RejectLog:
    """DATA_DIR/rejects/YYYY-MM-DD.jsonl: one line per rejected item, with the reason and where it
    came from: `url` for a crawled page, `where` for a line of an imported file (`FILE:LINE`)."""

    def __init__(self, data: DataDir, tz: tzinfo) -> None:
        self.dir, self.tz = data.rejects, tz
        self._lock = threading.Lock()

    def write(self, url: str, source: str, stage: str, reason: str, data: dict[str, Any], where: str = "") -> Path:
        now = datetime.now(self.tz)
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{now:%Y-%m-%d}.jsonl"
        line = {"at": now.isoformat(), "source": source, "url": url, "where": where or url, "stage": stage,
                "reason": reason, "item": data}
        # backslashreplace: a lone surrogate in a rejected line is written as its JSON escape
        with self._lock, path.open("a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        return path


@dataclass
class ReplayReport:
    replayed: int = 0
    files: int = 0
    index: IndexReport = field(default_factory=IndexReport)
    bad_lines: list[tuple[str, str, str]] = field(default_factory=list)  # (file:line, problem, the line)


class Spool:
    """DATA_DIR/spool/mentions/*.jsonl, one `Mention.to_dict()` per line."""

    def __init__(self, data: DataDir) -> None:
        self.dir = data.spool("mentions")
        self._lock = threading.Lock()

    def write(self, mentions: Iterable[Mention], origin: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{safe_name(origin)}-{os.getpid()}.jsonl"
        with self._lock, path.open("a", encoding="utf-8") as f:
            for m in mentions:
                f.write(json.dumps(m.to_dict(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return path

    def pending(self) -> list[Path]:
        self._release_stale_claims()
        return sorted(self.dir.glob("*.jsonl")) if self.dir.is_dir() else []

    def replay(self, store: Store) -> ReplayReport:
        """Index every spooled mention; a file is deleted only once all of it is in the store.
        If the store fails, the file goes back to the spool and the error propagates."""
        report = ReplayReport()
        for path in self.pending():
            claimed = path.with_name(f"{path.name}{_CLAIM}{os.getpid()}")
            try:
                path.rename(claimed)  # another crawl process may be replaying the same spool
            except FileNotFoundError:
                continue
            try:
                for batch in _batches(self._read(claimed, report), REPLAY_BATCH):
                    report.index += store.index_many(batch)
                    report.replayed += len(batch)
            except BaseException:
                claimed.rename(path)
                raise
            claimed.unlink()
            report.files += 1
        return report

    @staticmethod
    def _read(path: Path, report: ReplayReport) -> Iterator[Mention]:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield Mention.from_dict(json.loads(line))
                except (ValueError, TypeError) as e:
                    report.bad_lines.append((f"{path.name}:{number}", str(e), line.strip()))

    def _release_stale_claims(self) -> None:
        """Claims left by a replay that crashed go back to the spool."""
        if not self.dir.is_dir():
            return
        for claimed in self.dir.glob(f"*.jsonl{_CLAIM}*"):
            pid = claimed.name.rpartition(_CLAIM)[2]
            if not pid.isdigit() or not _alive(int(pid)):
                claimed.rename(claimed.with_name(claimed.name.partition(_CLAIM)[0]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _batches(items: Iterable[Mention], size: int) -> Iterator[list[Mention]]:
    batch: list[Mention] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
