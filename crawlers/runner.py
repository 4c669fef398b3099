"""Run a crawl from the CLI or the scheduler: a child process (`python -m crawlers.run`), because the
Twisted reactor cannot restart inside a long-lived process. Its stderr (the Scrapy log) is appended
to DATA_DIR/logs/crawl.log; its stdout is the JSON report parsed into `SourceReport`s.
Imports no Scrapy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Extra seconds the child gets beyond `timeout` to close its spiders and flush to the store.
SHUTDOWN_GRACE = 60.0
TERMINATE_GRACE = 15.0  # after SIGTERM, before SIGKILL
STDERR_TAIL = 2000
WALL_STATES = ("blocked", "login-required")  # crawlers.walls.WALLS (this module imports no Scrapy)

# For crawling a site on this machine (tests, `yuqing demo`): no politeness delays.
LOCAL_SITE_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "RETRY_TIMES": 1,
    "DOWNLOAD_TIMEOUT": 10,
    "DNS_TIMEOUT": 5,
}


class CrawlError(RuntimeError):
    """The crawl child failed as a whole (bad config, crash, timeout); the message says why and
    ends with the tail of its log."""


@dataclass
class SourceReport:
    name: str
    type: str = ""
    state: str = ""  # crawlers.walls.STATES: ok, degraded, blocked, login-required, failing
    state_reason: str = ""
    state_url: str = ""
    scraped: int = 0
    stored: int = 0
    filtered: int = 0
    rejected: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)
    reachable: bool = True
    finish_reason: str = ""  # Scrapy's: "finished", "closespider_timeout" (the crawl's time ran out), ...
    finished_at: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceReport:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def ok(self) -> bool:
        return self.state == "ok" if self.state else self.reachable and not self.errors

    def summary(self) -> str:
        figures = (f"{self.scraped} scraped, {self.stored} stored, {self.filtered} filtered, "
                   f"{self.rejected} rejected" + (f", {self.spooled} spooled" if self.spooled else ""))
        if not self.reachable:
            return f"source {self.name}: {self.errors[0] if self.errors else 'unreachable'}"
        problems = f"; {len(self.errors)} problem(s): {self.errors[0]}" if self.errors else ""
        stopped = "; stopped early: time limit reached" if self.finish_reason == "closespider_timeout" else ""
        state = f" {self.state}: {self.state_reason} ({self.state_url});" if self.state in WALL_STATES else ""
        return f"source {self.name}:{state} {figures}{problems}{stopped}"


def _child_env() -> dict[str, str]:
    """The child must import `crawlers` and `yuqing` even when they are not installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _command(config_path: str | None, data_dir: str, sources: list[str] | None, timeout: float | None,
             settings: dict[str, Any] | None) -> list[str]:
    command = [sys.executable, "-m", "crawlers.run", "--data-dir", str(data_dir)]
    if config_path:
        command += ["--config", str(config_path)]
    for name in sources or ():
        command += ["--source", name]
    if timeout:
        command += ["--timeout", str(timeout)]
    for key, value in (settings or {}).items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    return command


def crawl(config_path: str | None, data_dir: str, sources: list[str] | None = None,
          timeout: float | None = None, *, settings: dict[str, Any] | None = None) -> list[SourceReport]:
    """Crawl `sources` (default: all configured) and return one report per source.
    `settings` overrides Scrapy settings (e.g. LOCAL_SITE_SETTINGS). Raises CrawlError when the
    child fails as a whole."""
    log_path = Path(os.path.expanduser(str(data_dir))) / "logs" / "crawl.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        start = log.tell()
        child = subprocess.Popen(_command(config_path, data_dir, sources, timeout, settings),
                                 stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=_child_env())
        try:
            out, _ = child.communicate(timeout=timeout + SHUTDOWN_GRACE if timeout else None)
        except subprocess.TimeoutExpired:
            _stop(child)
            raise CrawlError(f"crawl did not finish within {timeout:.0f}s (+{SHUTDOWN_GRACE:.0f}s to shut down) "
                             f"and was stopped{_tail(log_path, start)}") from None
    if child.returncode != 0:
        raise CrawlError(f"crawl process exited with status {child.returncode}{_tail(log_path, start)}")
    try:
        report = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        return [SourceReport.from_dict(r) for r in report["sources"]]
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise CrawlError(f"crawl process gave no readable report ({e}){_tail(log_path, start)}") from None


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: Scrapy then closes its spiders, so the pipelines write (or spool) what they hold."""
    child.terminate()
    try:
        child.communicate(timeout=TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()


def _tail(log_path: Path, start: int) -> str:
    with log_path.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", errors="replace").strip()
    return f"; log ({log_path}) ends:\n{text[-STDERR_TAIL:]}" if text else f"; nothing in {log_path}"
