"""Everything the service writes lives under one data dir; this module is its written contract.

`DataDir` names every path (no other module spells a folder name), `atomic_write` is the one way a
file is replaced so that readers never see half of it, and `HealthRecord` is the one source-health
record: the crawl writes it (`crawlers.extensions`), `yuqing status` reads it (and later the web app).
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

SpoolKind = Literal["mentions", "alerts", "digests"]
SPOOL_KINDS: tuple[SpoolKind, ...] = ("mentions", "alerts", "digests")

# What a source's last crawl says about it, from best to worst.
HEALTH_STATES = ("ok", "degraded", "blocked", "login-required", "failing")
# A site that would not serve us: a captcha or block page, a login wall.
WALL_STATES = ("blocked", "login-required")
# States in which a source delivers nothing: `yuqing status` exits 1 when a source is in one.
NOT_WORKING = frozenset({"blocked", "login-required", "failing"})

_UNSAFE = re.compile(r"[^\w.-]")


def safe_name(name: str) -> str:
    """A file name made from a user's name (a source, a channel) that stays inside its folder:
    anything but letters, digits, `.`, `-`, `_` becomes `_`, and a short hash of the original keeps
    two names that differ only there apart (`a/b` and `a_b`)."""
    cleaned = _UNSAFE.sub("_", name).strip(".") or "_"
    if cleaned == name:
        return name
    return f"{cleaned}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so a reader
    sees the old file or the new one, never half of either. Creates the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    with partial.open("wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    return path


def write_json(path: Path, data: object) -> Path:
    """`atomic_write` of a JSON document (UTF-8, readable indentation)."""
    return atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1, default=str))


@dataclass(frozen=True)
class DataDir:
    """The typed paths under DATA_DIR (see the README's "What is under the data dir")."""

    root: Path

    @property
    def store_db(self) -> Path:
        return self.root / "yuqing.db"

    @property
    def groups_db(self) -> Path:
        """The signatures that group reposts and near-duplicates (`yuqing.groups`)."""
        return self.root / "groups.db"

    @property
    def migrate_checkpoint(self) -> Path:
        """How far `yuqing migrate --to elasticsearch` got (deleted once it completes)."""
        return self.root / "migrate-elasticsearch.json"

    @property
    def scheduler_db(self) -> Path:
        return self.root / "scheduler.db"

    @property
    def config_file(self) -> Path:
        return self.root / "yuqing.yaml"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def health(self) -> Path:
        return self.root / "health"

    @property
    def alerts(self) -> Path:
        return self.root / "alerts"

    @property
    def digests(self) -> Path:
        return self.root / "digests"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def crawl_log(self) -> Path:
        return self.logs / "crawl.log"

    @property
    def demo(self) -> Path:
        return self.root / "demo"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def crawl_lock(self, source: str) -> Path:
        """DATA_DIR/locks/crawl-SOURCE.lock: held by the process crawling SOURCE."""
        return self.locks / f"crawl-{safe_name(source)}.lock"

    def spool(self, kind: SpoolKind) -> Path:
        """DATA_DIR/spool/KIND: work that could not be delivered yet, retried on the next run."""
        if kind not in SPOOL_KINDS:
            raise ValueError(f"unknown spool {kind!r} (known: {', '.join(SPOOL_KINDS)})")
        return self.root / "spool" / kind

    def health_file(self, source: str) -> Path:
        """DATA_DIR/health/SOURCE.json, inside DATA_DIR/health whatever the source is called."""
        return self.health / f"{safe_name(source)}.json"

    def write_health(self, record: HealthRecord) -> Path:
        return write_json(self.health_file(record.name), record.to_dict())

    def read_health(self, source: str) -> HealthRecord | None:
        """The last crawl's record of `source`, None if it was never crawled. An unreadable file is
        a `failing` record that says so, not an exception: `status` must still show the others."""
        path = self.health_file(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            return HealthRecord(source, state="failing", state_reason=f"health file {path} unreadable: {e}")
        try:
            return HealthRecord.from_dict(json.loads(text))
        except (ValueError, TypeError) as e:
            return HealthRecord(source, state="failing", state_reason=f"health file {path} unreadable: {e}")


class Held(Exception):
    """A `PidLock` another process holds; `pid` is that process's, as it wrote it."""

    def __init__(self, path: Path, pid: str) -> None:
        self.path, self.pid = path, pid
        super().__init__(f"{path} is held by pid {pid}")


class PidLock:
    """An exclusive lock on a file that names its holder's pid. The kernel releases it when the
    holder dies, however it dies (`kill -9` included), so a lock is never left stale."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `Held` naming the pid that has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise Held(self.path, holder) from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass
class HealthRecord:
    """One source's last crawl. `state` is one of HEALTH_STATES; `state_reason` says why it is not
    `ok` and `state_url` where that was seen (the page that showed a login wall, the feed that failed)."""

    name: str
    type: str = ""
    state: str = "ok"
    state_reason: str = ""
    state_url: str = ""
    scraped: int = 0
    stored: int = 0
    created: int = 0
    filtered: int = 0
    rejected: int = 0
    spooled: int = 0
    replayed: int = 0
    http_errors: int = 0
    connection_failures: int = 0
    errors: list[str] = field(default_factory=list)
    reachable: bool = True
    finish_reason: str = ""  # Scrapy's: "finished", "closespider_timeout" (time ran out), "shutdown", ...
    finished_at: str = ""
    last_success: str | None = None

    def __post_init__(self) -> None:
        if self.state not in HEALTH_STATES:
            raise ValueError(f"health state {self.state!r} is not one of: {', '.join(HEALTH_STATES)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> HealthRecord:
        """Inverse of `to_dict`; unknown keys are ignored (a newer crawler may add some)."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def summary(self) -> str:
        figures = (f"{self.scraped} scraped, {self.stored} stored, {self.filtered} filtered, "
                   f"{self.rejected} rejected" + (f", {self.spooled} spooled" if self.spooled else ""))
        if not self.reachable:
            return f"source {self.name}: {self.errors[0] if self.errors else 'unreachable'}"
        state = f" {self.state}: {self.state_reason} ({self.state_url});" if self.state in WALL_STATES else ""
        problems = f"; {len(self.errors)} problem(s): {self.errors[0]}" if self.errors else ""
        stopped = "; stopped early: time limit reached" if self.finish_reason == "closespider_timeout" else (
            "; stopped early: page limit reached" if self.finish_reason == "closespider_pagecount" else "")
        return f"source {self.name}:{state} {figures}{problems}{stopped}"


__all__ = ["HEALTH_STATES", "NOT_WORKING", "WALL_STATES", "SPOOL_KINDS", "DataDir", "HealthRecord", "Held", "PidLock",
           "atomic_write", "safe_name", "write_json"]
