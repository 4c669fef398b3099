"""Crawls run in a child process, because Twisted's reactor cannot restart inside a long-lived one.

`crawl(services, sources)` (the CLI, the scheduler, the demo) starts `python -m app.crawl`, which
builds its own `Services` from the same config, runs `crawlers.run.crawl_sources` and prints one
JSON line on stdout: `{"sources": [HealthRecord, ...]}`. The child never outlives its parent: on
Linux the kernel signals it when the parent dies, however it dies (PR_SET_PDEATHSIG), and the child
stops as on one SIGTERM, closing its spiders; a parent stopped by a signal stops its child first; a
lock per source (`DataDir.crawl_lock`) keeps a re-run from crawling a source that a previous child
is still closing. The child's stderr (the Scrapy log) is appended to DATA_DIR/logs/crawl.log. Child
exit status: 0 crawled (per-source problems are in the report), 2 bad config.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from app.services import Services
from yuqing.config import Config, ConfigError, SourceConfig
from yuqing.datadir import HealthRecord

# Extra seconds the child gets beyond `timeout` (counted from its start) to start, close its spiders
# and flush to the store: a hang guard, so generous. Closing waits for every request in flight (each up
# to DOWNLOAD_TIMEOUT) and for a store's back-off, and a busy machine takes many seconds to start the
# child: with 60 s, a crawl whose time limit worked was stopped as hung, its health record unwritten.
SHUTDOWN_GRACE = 300.0
TERMINATE_GRACE = 15.0  # after SIGTERM, before SIGKILL
STDERR_TAIL = 2000
PARENT_ENV = "YUQING_CRAWL_PARENT"  # the pid the child must die with
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# What the kernel sends the child when its parent dies. Not SIGTERM itself: the kernel sends it again
# each time the child is re-parented, so once per exiting thread of a multi-threaded parent, and a
# second SIGTERM makes Scrapy force an unclean shutdown that writes no health record.
PARENT_DEATH_SIGNAL = signal.SIGUSR1

# For crawling a site on this machine (tests, `yuqing demo`): no politeness delays.
LOCAL_SITE_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "RETRY_TIMES": 1,
    # A site on 127.0.0.1 answers at once on an idle machine and can take many seconds on a loaded
    # one; a fetch that really times out is tested with its own, shorter DOWNLOAD_TIMEOUT.
    "DOWNLOAD_TIMEOUT": 60,
    "DNS_TIMEOUT": 5,
}


class CrawlError(RuntimeError):
    """The crawl child failed as a whole (bad config, crash, timeout); the message says why and
    ends with the tail of its log."""


def _command(services: Services, sources: list[str] | None, timeout: float | None,
             settings: dict[str, Any] | None) -> list[str]:
    command = [sys.executable, "-m", "app.crawl", "--data-dir", str(services.data.root)]
    if services.config_path:
        command += ["--config", str(services.config_path)]
    for name in sources or ():
        command += ["--source", name]
    if timeout:
        command += ["--timeout", str(timeout)]
    for key, value in (settings or {}).items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    return command


def _child_env() -> dict[str, str]:
    """The child must import this project even when it is not installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env[PARENT_ENV] = str(os.getpid())
    return env


def crawl(services: Services, sources: list[str] | None = None, timeout: float | None = None, *,
          settings: dict[str, Any] | None = None) -> list[HealthRecord]:
    """Crawl `sources` (default: all configured) in a child process; one record per source.
    `settings` overrides Scrapy settings (e.g. LOCAL_SITE_SETTINGS). Raises CrawlError when the
    child fails as a whole."""
    log_path = services.data.crawl_log
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        start = log.tell()
        child = subprocess.Popen(_command(services, sources, timeout, settings), stdout=subprocess.PIPE,
                                 stderr=log, stdin=subprocess.DEVNULL, env=_child_env())
        try:
            out, _ = child.communicate(timeout=timeout + SHUTDOWN_GRACE if timeout else None)
        except subprocess.TimeoutExpired:
            _stop(child)
            raise CrawlError(f"crawl did not finish within {timeout:.0f}s (+{SHUTDOWN_GRACE:.0f}s to shut down) "
                             f"and was stopped{_tail(log_path, start)}") from None
        except BaseException:  # Ctrl-C, SIGTERM (`yuqing crawl` raises KeyboardInterrupt): stop the child too
            _stop(child)
            raise
    if child.returncode != 0:
        raise CrawlError(f"crawl process exited with status {child.returncode}{_tail(log_path, start)}")
    try:
        report = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        return [HealthRecord.from_dict(r) for r in report["sources"]]
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise CrawlError(f"crawl process gave no readable report ({e}){_tail(log_path, start)}") from None


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: Scrapy then closes its spiders, so the pipeline writes (or spools) what it holds."""
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


# -- the child ------------------------------------------------------------------------------------

def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.crawl", description="Crawl sources; one JSON report line.")
    parser.add_argument("--config", help="config file (default: DATA_DIR/yuqing.yaml or built-in defaults)")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--source", action="append", dest="sources", help="crawl only this source (repeatable)")
    parser.add_argument("--timeout", type=float, help="close every spider after this many seconds")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=JSON",
                        help="override a Scrapy setting, value as JSON (e.g. DOWNLOAD_DELAY=0)")
    return parser.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"CLOSESPIDER_TIMEOUT": args.timeout} if args.timeout else {}
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except ValueError:
            raise ConfigError("--set", key, f"value {value!r} is not JSON") from None
    return overrides


def _chosen(config: Config, names: list[str] | None) -> list[SourceConfig]:
    return [config.source(n) for n in names] if names else list(config.sources)


def _die_with_parent() -> None:
    """Stop (as on one SIGTERM: Scrapy closes the spiders, so what the crawl holds is stored and
    its health record written) when the parent dies, `kill -9` included, instead of running on
    as an orphan. However often the kernel repeats PARENT_DEATH_SIGNAL, the spiders are closed
    once, by `crawlers.run.stop_crawls` rather than by a SIGTERM: in one CI run in many a SIGTERM
    of unknown origin followed the parent's death, and on top of a raised one it forced Scrapy's
    unclean shutdown (no health record). Two SIGTERMs from a user still force the stop. The signal
    follows the thread that started the child: the caller waits in that thread."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return  # started by hand, not by `crawl()`
    signal.signal(PARENT_DEATH_SIGNAL, _parent_died)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL)
    if os.getppid() != int(parent):  # it died before prctl could watch it
        raise SystemExit(f"crawl: parent process {parent} is gone; not crawling")


def _parent_died(signum: int, frame: FrameType | None) -> None:
    if signal.getsignal(PARENT_DEATH_SIGNAL) == signal.SIG_IGN:
        return  # a repeat that arrived before this handler's first run had ignored it
    signal.signal(PARENT_DEATH_SIGNAL, signal.SIG_IGN)
    run = sys.modules.get("crawlers.run")
    if run is None or not run.stop_crawls():
        signal.raise_signal(signal.SIGTERM)  # not crawling yet: nothing to close


def _report(reports: list[HealthRecord]) -> None:
    """The report line on stdout; a parent that died meanwhile reads none, and the health records
    in DATA_DIR/health already say what was crawled."""
    try:
        print(json.dumps({"sources": [r.to_dict() for r in reports]}, ensure_ascii=False), flush=True)
    except BrokenPipeError:
        print("crawl: the parent process is gone; no report sent (see DATA_DIR/health)", file=sys.stderr)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails no more


def main(argv: list[str] | None = None) -> int:
    from crawlers.run import crawl_settings, crawl_sources

    _die_with_parent()
    args = _arguments(argv)
    try:
        services = Services.load(args.config, args.data_dir)
        sources = _chosen(services.config, args.sources)
        settings = crawl_settings(services, _overrides(args))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    with services:
        reports = crawl_sources(sources, settings) if sources else []
    _report(reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
