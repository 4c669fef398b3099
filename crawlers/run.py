"""The crawl child process: `python -m crawlers.run --data-dir DIR [--config FILE] [--source NAME]...
[--timeout SECONDS] [--set SETTING=JSON]...`.

Runs the chosen sources (default: all) in one Scrapy process and prints one JSON line on stdout:
`{"sources": [{name, type, scraped, stored, filtered, rejected, errors, reachable, ...}]}`.
Logs go to stderr. Exit status: 0 crawled (per-source problems are in the report), 2 bad config.
It is a separate process because Twisted's reactor cannot be restarted inside a long-lived one.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from twisted.python.failure import Failure

from crawlers import settings as project_settings
from crawlers.extensions import SourceHealth
from crawlers.sources import spider_class, validate_sources
from yuqing.config import Config, ConfigError, SourceConfig, load

log = logging.getLogger("crawlers.run")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawlers.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="config file (default: DATA_DIR/yuqing.yaml or built-in defaults)")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--source", action="append", dest="sources", help="crawl only this source (repeatable)")
    parser.add_argument("--timeout", type=float, help="close every spider after this many seconds")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=JSON",
                        help="override a Scrapy setting, value as JSON (e.g. DOWNLOAD_DELAY=0)")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace, config: Config) -> Settings:
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.set("YUQING_CONFIG_PATH", args.config, priority="cmdline")
    settings.set("YUQING_DATA_DIR", str(config.data_dir), priority="cmdline")
    if args.timeout:
        settings.set("CLOSESPIDER_TIMEOUT", args.timeout, priority="cmdline")
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        try:
            settings.set(key.strip(), json.loads(value), priority="cmdline")
        except ValueError:
            raise ConfigError("--set", key, f"value {value!r} is not JSON") from None
    return settings


def _chosen(config: Config, names: list[str] | None) -> list[SourceConfig]:
    return [config.source(n) for n in names] if names else list(config.sources)


def _failed_report(source: SourceConfig, error: str) -> dict[str, Any]:
    return {"name": source.name, "type": source.type, "state": "failing", "state_reason": error,
            "scraped": 0, "stored": 0, "filtered": 0,
            "rejected": 0, "errors": [error], "reachable": True}


def crawl_sources(config: Config, sources: list[SourceConfig], settings: Settings) -> list[dict[str, Any]]:
    process = CrawlerProcess(settings)
    started: list[tuple[SourceConfig, Crawler]] = []
    start_errors: dict[str, str] = {}
    for source in sources:
        crawler = process.create_crawler(spider_class(source.type))
        started.append((source, crawler))

        def failed(failure: Failure, name: str = source.name) -> None:
            start_errors[name] = f"crawl failed: {type(failure.value).__name__}: {failure.value}"
            log.error("source %s: %s", name, start_errors[name], exc_info=failure.value)

        process.crawl(crawler, source=source).addErrback(failed)
    process.start()
    reports = []
    for source, crawler in started:
        health = next((m for m in (crawler.extensions.middlewares if crawler.extensions else ())
                       if isinstance(m, SourceHealth)), None)
        report = health.report if health is not None else None
        if report is None or source.name in start_errors:
            report = _failed_report(source, start_errors.get(source.name, "the crawl did not finish"))
        reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        config = load(args.config, args.data_dir)
        validate_sources(config)
        sources = _chosen(config, args.sources)
        settings = _settings(args, config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    reports = crawl_sources(config, sources, settings) if sources else []
    print(json.dumps({"sources": reports}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
