"""The `yuqing` command. `main` loads and validates the config once, builds the process's one
`Services` and hands it to the command; the command closes nothing itself.

Heavy modules (Scrapy, matplotlib, Elasticsearch, the NLP model) are imported inside the commands
that need them, so `yuqing analyze` and `yuqing search` start fast.
Exit status: 0 done, 1 the work failed (store down, crawl crashed), 2 bad usage or config.
"""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from app import settings
from app.services import Services
from yuqing.config import Config, ConfigError, load, parse_duration
from yuqing.model import Mention

# The store's module is imported where a command uses it: `yuqing analyze` needs none.
if TYPE_CHECKING:
    from yuqing.storage.base import Facets, SearchRequest

Handler = Callable[[argparse.Namespace, Services], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn
    return register


def _err(message: str) -> None:
    print(f"yuqing: {message}", file=sys.stderr)




# -- commands ------------------------------------------------------------------------------------

@command("init")
def cmd_init(args: argparse.Namespace, services: Services) -> int:
    from app.example import EXAMPLE_CONFIG

    path = Path(args.path or services.data.config_file)
    if path.exists() and not args.force:
        _err(f"{path} exists; use --force to overwrite it")
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    print(f"wrote {path}: edit the institutions and sources, then run `yuqing --config {path} run`")
    return 0


@command("import")
def cmd_import(args: argparse.Namespace, services: Services) -> int:
    from yuqing.importer import import_jsonl

    report = import_jsonl(Path(args.input), services.ingest, services.config.tz)
    for line_no, problem in report.bad_lines:
        _err(f"{args.input}: line {line_no}: {problem} (skipped)")
    for mention_id, reason in report.failed:
        _err(f"{args.input}: mention {mention_id} not stored: {reason}")
    for problem in report.ingest.problems:
        _err(f"{args.input}: {problem}")
    print(report.summary(args.input))
    failed = report.failed or report.ingest.spooled or report.stopped or (report.bad_lines and not report.stored)
    return 1 if failed else 0


def _search_request(args: argparse.Namespace, services: Services, limit: int) -> SearchRequest:
    """The query and filters of `search` and `export`, validated, errors naming the flag."""
    from yuqing.search import SearchInput, build_request

    return build_request(
        SearchInput(" ".join(args.query), args.since, args.until, args.polarity, args.source, args.institution,
                    limit, sort=args.sort or "", cursor=args.cursor, facets=args.facets, interval=args.interval),
        services.config.tz, "command line",
        keys={"since": "--from", "until": "--to", "limit": "--limit", "query": "QUERY", "sort": "--sort",
              "cursor": "--cursor", "interval": "--interval"})


@command("search")
def cmd_search(args: argparse.Namespace, services: Services) -> int:
    from yuqing.search import result_json

    request = _search_request(args, services, args.limit)
    result = services.store.search(request)
    if args.json:
        print(json.dumps(result_json(result), ensure_ascii=False))
        return 0
    shown = f", {len(result.hits)} shown ({request.order})" if result.total > len(result.hits) else ""
    print(f"{result.total} mention(s){shown}")
    if result.facets is not None:
        _print_facets(result.facets)
    for h in result.hits:
        m = h.mention
        when = m.published_at.strftime("%Y-%m-%d %H:%M") if m.published_at else "?"
        text = h.highlight.replace("<mark>", "\033[1m").replace("</mark>", "\033[0m") if sys.stdout.isatty() \
            else h.highlight.replace("<mark>", "【").replace("</mark>", "】")
        print(f"\n{when}  {m.polarity or '-':8} {m.source:10} {m.title}\n  {m.url}\n  {html.unescape(text)}")
    if result.next_cursor:
        print(f"\nmore: add --cursor {result.next_cursor}")
    return 0


@command("export")
def cmd_export(args: argparse.Namespace, services: Services) -> int:
    from app.dataops import export
    from yuqing.export import FORMATS

    out = Path(args.out)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError("command line", "--format", f"give --format {'|'.join(FORMATS)}, or an --out file "
                          "ending in .csv, .jsonl or .xlsx")
    if out.is_dir():
        raise ConfigError("command line", "--out", f"{out} is a folder; name the file to write")
    n = export(services, _search_request(args, services, 1), fmt, out, args.batch)
    print(f"exported {n} mention(s) to {out} ({fmt})")
    return 0


@command("prune")
def cmd_prune(args: argparse.Namespace, services: Services) -> int:
    from app.dataops import prune

    seconds = parse_duration(args.older_than, "command line", "--older-than")
    n, before = prune(services, seconds, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {n} mention(s) published before {before.isoformat(timespec='seconds')}")
    return 0


@command("migrate")
def cmd_migrate(args: argparse.Namespace, services: Services) -> int:
    from app.dataops import migrate_to_elasticsearch

    report = migrate_to_elasticsearch(services, args.batch)
    for line in report.setup:
        print(line)
    for mention_id, reason in report.failed:
        _err(f"mention {mention_id} not copied: {reason}")
    for line in report.differences():
        _err(line)
    print(report.summary())
    return 0 if report.ok else 1


def _print_facets(facets: Facets) -> None:
    for name, counts in (("sources", facets.sources), ("institutions", facets.institutions),
                         ("categories", facets.categories), ("repost groups", facets.groups)):
        print(f"  {name}: " + (", ".join(f"{value} {n}" for value, n in counts) or "-"))
    print("  timeline: " + (", ".join(f"{b.start:%Y-%m-%d %H:%M} {b.total}" for b in facets.timeline) or "-"))


@command("analyze")
def cmd_analyze(args: argparse.Namespace, services: Services) -> int:
    from nlp import analyze_jsonl

    src, dst = Path(args.input), Path(args.output)
    if "-" not in (args.input, args.output) and src.exists() and dst.exists() and src.samefile(dst):
        # opening the output would empty the input before a line of it is read
        raise ConfigError("command line", "--output", f"{dst} is the input file; write to another file")
    rows = analyze_jsonl(args.input, args.output, services.analyzer)
    print(f"analysed {rows} line(s) into {args.output}", file=sys.stderr)
    return 0


@command("detect")
def cmd_detect(args: argparse.Namespace, services: Services) -> int:
    from alerts.detect import detect_csv

    report = detect_csv(args.input, args.output, direction=args.direction)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"scored {report.rows} row(s) into {args.output}", file=sys.stderr)
    return 0


@command("digest")
def cmd_digest(args: argparse.Namespace, services: Services) -> int:
    from alerts.digest import archived, send_digest, write_preview

    if args.action == "list":
        records = archived(services.alert_store, limit=args.limit)
        if args.json:
            print(json.dumps({"digests": [r.public() for r in records]}, ensure_ascii=False))
        for r in records if not args.json else ():
            when = f"{r.sent_at.astimezone(services.config.tz):%Y-%m-%d %H:%M}" if r.sent_at else "-"
            print(f"{r.period:<10}  {r.kind:<6}  {r.state:<7}  {when:<16}  {r.recipient}  {r.file}")
        if not records and not args.json:
            print("no digests sent yet")
        return 0
    if args.week and args.day:
        raise ConfigError("command line", "--day", "give --week (weekly digest) or --day (daily brief), not both")
    kind, period = ("daily", args.day) if args.day or args.daily else ("weekly", args.week)
    if args.dry_run:
        if not args.out:
            raise ConfigError("command line", "--out", "--dry-run needs --out DIR")
        for p in write_preview(services.config, services.store, services.alert_store, Path(args.out), kind, period):
            print(f"wrote {p}")
        return 0
    for r in send_digest(services.config, services.store, services.alert_store, period, kind=kind):
        print(f"{r.kind} digest {r.period} {r.state} to {r.recipient}: {r.file}")
    return 0


@command("check")
def cmd_check(args: argparse.Namespace, services: Services) -> int:
    from app.scheduler import run_check

    notices = run_check(services, dry_run=args.dry_run)
    if args.dry_run:
        from app.alerts_cli import print_dry_run

        print_dry_run(notices)
        return 0
    for a in notices:
        print(a.summary())
    print(f"{len(notices)} notice(s)")
    return 0


@command("alerts")
def cmd_alerts(args: argparse.Namespace, services: Services) -> int:
    from app.alerts_cli import run

    return run(args, services)


@command("status")
def cmd_status(args: argparse.Namespace, services: Services) -> int:
    from app.status import collect, not_working, render

    status = collect(services)
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render(status))
    return 1 if not_working(status) else 0


@command("jobs")
def cmd_jobs(args: argparse.Namespace, services: Services) -> int:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from app.joblog import JobLog

    path = services.data.scheduler_db
    jobs: list[tuple[str, str | None]] = []
    if path.exists():
        jobstore = SQLAlchemyJobStore(url=f"sqlite:///{path}")
        jobstore.start(None, "default")  # type: ignore[arg-type]  # read only: no scheduler runs here
        jobs = [(j.id, j.next_run_time.isoformat() if j.next_run_time else None) for j in jobstore.get_all_jobs()]
        jobstore.shutdown()
    runs = JobLog(path).runs(args.limit)
    latest: dict[str, str] = {}
    for run in runs:  # newest first: the first seen per job is its latest
        latest.setdefault(run.job_id, run.outcome)
    if args.json:
        print(json.dumps({"jobs": [{"id": i, "next_run_time": n} for i, n in jobs], "runs": [
            {"job_id": r.job_id, "scheduled_at": r.scheduled_at.isoformat(), "finished_at": r.finished_at.isoformat(),
             "outcome": r.outcome, "error": r.error or None} for r in runs]}, ensure_ascii=False))
    else:
        print(f"jobs ({path}):" if jobs else f"no jobs scheduled yet ({path}; `yuqing run` creates them)")
        for job_id, next_run in jobs:
            print(f"  {job_id:24} next {next_run or 'paused'}")
        print(f"latest {len(runs)} run(s), {sum(r.outcome != 'ok' for r in runs)} failed or missed:")
        for r in runs:
            late = r.finished_at - r.scheduled_at
            print(f"  {r.finished_at:%Y-%m-%d %H:%M:%S} {r.job_id:24} {r.outcome}"
                  f" (due {r.scheduled_at:%Y-%m-%d %H:%M}, {late.total_seconds():.0f} s later)"
                  + (f": {r.error}" if r.error else ""))
    return 1 if "failed" in latest.values() else 0


@command("crawl")
def cmd_crawl(args: argparse.Namespace, services: Services) -> int:
    from app.crawl import crawl

    config = services.config
    if not config.sources:
        _err(f"{config.path}: no sources configured (see `yuqing init`)")
        return 2
    for name in args.source or []:
        config.source(name)
    reports = crawl(services, args.source or None)
    for r in reports:
        print(r.summary())
    return 0 if all(r.reachable and not r.errors for r in reports) else 1


@command("run")
def cmd_run(args: argparse.Namespace, services: Services) -> int:
    from app.scheduler import Service

    service = Service(services)
    if not services.config.web.enabled:
        service.run_forever()
        return 0
    from app.web import beside

    with beside(services) as url:
        print(f"web app at {url}", flush=True)
        service.run_forever()
    return 0


@command("serve")
def cmd_serve(args: argparse.Namespace, services: Services) -> int:
    from app.web import WebServer, WebState, state_path

    state = WebState(state_path(services))
    try:
        server = WebServer(services, state, host=args.host, port=args.port)
        print(f"yuqing web app at http://{server.host}:{server.server.config.port} (Ctrl-C stops it)", flush=True)
        server.run()
    finally:
        state.close()
    return 0


def _read_password() -> str:
    """The new password: the first line of standard input when it is not a terminal, else typed twice."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("command line", "password", "the two passwords differ; nothing changed")
    return first


@command("user")
def cmd_user(args: argparse.Namespace, services: Services) -> int:
    from app.web import UserError, WebState, state_path

    state = WebState(state_path(services))
    try:
        if args.action == "list":
            for u in state.users():
                scope = ", ".join(u.institutions) if u.institutions is not None else "all institutions"
                print(f"{u.name}\t{u.role}\t{scope}{chr(9) + 'disabled' if u.disabled else ''}")
            return 0
        if not args.name:
            raise ConfigError("command line", "NAME", f"`yuqing user {args.action}` needs a user name")
        known = {i.name for i in services.config.institutions}
        for name in args.institution or []:
            if known and name not in known:
                raise ConfigError("command line", "--institution",
                                  f"{name!r} is not a configured institution (known: {', '.join(sorted(known))})")
        try:
            if args.action == "add":
                if not args.role:
                    raise ConfigError("command line", "--role", "`yuqing user add` needs --role viewer|analyst|admin")
                user = state.add_user("cli", args.name, args.role, _read_password(),
                                      tuple(args.institution) if args.institution else None)
            else:
                user = state.update_user("cli", args.name, password=_read_password())
        except UserError as e:
            raise ConfigError("command line", args.name, str(e)) from None
    finally:
        state.close()
    print(f"user {user.name} ({user.role}) {'added' if args.action == 'add' else 'has a new password'}")
    return 0


@command("demo")
def cmd_demo(args: argparse.Namespace, services: Services) -> int:
    from app.demo import run_demo

    return run_demo(services.data.root, once=args.once)


@command("index")
def cmd_index(args: argparse.Namespace, services: Services) -> int:
    backend = services.config.store.backend
    if backend != "elasticsearch":
        print(f"store.backend is {backend}: the SQLite store sets itself up; nothing to do")
        return 0
    for line in [*services.store.setup(), *services.alert_store.setup()]:
        print(line)
    return 0


@command("label")
def cmd_label(args: argparse.Namespace, services: Services) -> int:
    from nlp import AnalyzerSettings
    from yuqing.corrections import CorrectionError, correct

    categories = [] if args.no_categories else args.category
    known = AnalyzerSettings.parse(services.config.nlp).categories.labels
    for code in categories or []:
        if code not in known:
            raise ConfigError("command line", "--category", f"{code!r} is not a configured category "
                              f"(known: {', '.join(known)}; more can be added under nlp.categories)")
    try:
        m = correct(services.store, args.mention_id, polarity=args.polarity, institutions=args.institution,
                    negative_entities=[] if args.no_targets else args.target, categories=categories,
                    by=args.by or _user(), note=args.note)
    except CorrectionError as e:
        raise ConfigError("command line", args.mention_id, str(e)) from None
    last = m.corrections[-1]
    print(f"corrected mention {m.id} (by {last['by']}):")
    for name, value in last["after"].items():
        model = f"; the model's: {m.model_analysis[name]}" if name in m.model_analysis else ""
        print(f"  {name}: {last['before'][name]} -> {value}{model}")
    return 0


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        raise ConfigError("command line", "--by", "no login name to record; give --by NAME") from None


@command("corrections")
def cmd_corrections(args: argparse.Namespace, services: Services) -> int:
    from yuqing.corrections import list_corrections
    from yuqing.search import parse_when

    since = parse_when(args.since, services.config.tz, False, "command line", "--since") if args.since else None
    found = list_corrections(services.store, since=since)
    if args.json:
        print(json.dumps({"corrections": [{"mention_id": c.mention_id, **c.record()} for c in found]},
                         ensure_ascii=False))
        return 0
    print(f"{len(found)} correction(s)")
    for c in found:
        changes = "; ".join(f"{k}: {c.before[k]} -> {v}" for k, v in c.after.items())
        print(f"{c.at.astimezone(services.config.tz):%Y-%m-%d %H:%M} {c.by:12} {c.mention_id} {changes}"
              + (f" ({c.note})" if c.note else ""))
    return 0


@command("reanalyze")
def cmd_reanalyze(args: argparse.Namespace, services: Services) -> int:
    from yuqing.reanalyze import ReanalyseReport, reanalyse
    from yuqing.search import parse_when

    since = parse_when(args.since, services.config.tz, False, "command line", "--since") if args.since else None
    tty = sys.stderr.isatty()

    def progress(r: ReanalyseReport) -> None:
        width = 30
        filled = width * r.done // max(1, r.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {r.done}/{r.total}, {r.changed} changed"
        print(f"\r{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    report = reanalyse(services.store, services.analyzer, since=since, progress=progress)
    if tty and report.done:
        print(file=sys.stderr)
    for mention_id, reason in report.failed:
        _err(f"mention {mention_id} not stored: {reason}")
    print(f"reanalysed {report.done} mention(s) with model {services.analyzer.model.version}: "
          f"{report.changed} changed polarity, targets or categories; corrected fields kept")
    return 1 if report.failed else 0


@command("train")
def cmd_train(args: argparse.Namespace, services: Services) -> int:
    from nlp.train import main as train_main
    from yuqing.storage.base import SearchRequest

    # The store is opened only for the corrections: training on the files alone needs none.
    corrections: list[Mention] = []
    if "--with-corrections" in args.train_args:
        for batch in services.store.scan(SearchRequest(query=None, corrected_only=True)):
            corrections += batch
    return int(train_main(args.train_args, corrections) or 0)


# -- argument parsing ----------------------------------------------------------------------------

def _search_limit(text: str) -> int:
    """A whole number; its range is checked with the rest of the search (`yuqing.search`)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} must be at least 1")
    return n


def _search_arguments(s: argparse.ArgumentParser) -> None:
    """The query and filters `search` and `export` share."""
    s.add_argument("query", nargs="*", help='terms (AND), "phrases", OR, NOT, -term, parentheses')
    s.add_argument("--from", dest="since", metavar="DATE", help="from this date/time (configured timezone)")
    s.add_argument("--to", dest="until", metavar="DATE", help="up to this date (inclusive) or time")
    s.add_argument("--polarity", choices=["negative", "neutral", "positive"])
    s.add_argument("--source", metavar="S")
    s.add_argument("--institution", metavar="I")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yuqing", description="舆情 monitoring for financial institutions: "
                                "crawl public posts, score sentiment, search, alert on negative spikes.")
    p.add_argument("--config", dest="config_path", metavar="PATH",
                   help="YAML config file (default: $YUQING_CONFIG, else DATA_DIR/yuqing.yaml, else built-in defaults)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where everything is written (default: $YUQING_DATA_DIR, else ~/.local/share/yuqing)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", help="write a commented example config")
    s.add_argument("path", nargs="?", help="where to write it (default: DATA_DIR/yuqing.yaml)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")

    sub.add_parser("run", help="run the service: scheduled crawls, alert checks, the weekly digest and the web app")

    s = sub.add_parser("serve", help="run the web app only")
    s.add_argument("--host", metavar="HOST", help="address to listen on (default: web.host, 127.0.0.1)")
    s.add_argument("--port", type=int, metavar="PORT", help="port (default: web.port, 8080)")

    s = sub.add_parser("user", help="web app users: add one, list them, set a password")
    s.add_argument("action", choices=["add", "list", "passwd"])
    s.add_argument("name", nargs="?", metavar="NAME")
    s.add_argument("--role", choices=["viewer", "analyst", "admin"], help="for add")
    s.add_argument("--institution", action="append", metavar="I",
                   help="for add: limit the user to this institution (repeatable; default: all)")

    s = sub.add_parser("crawl", help="crawl the configured sources once")
    s.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")

    s = sub.add_parser("import", help="analyse and store mentions from a JSON Lines file")
    s.add_argument("--input", required=True, metavar="FILE.jsonl")

    s = sub.add_parser("search", help="search stored mentions")
    _search_arguments(s)
    s.add_argument("--limit", type=_search_limit, default=20, metavar="N", help="hits shown, 1 to 1000 (default 20)")
    s.add_argument("--sort", choices=["relevance", "time", "risk"],
                   help="order of the hits (default: relevance when the query has terms, else time)")
    s.add_argument("--cursor", metavar="C", help="the next page: the cursor the previous page printed")
    s.add_argument("--facets", action="store_true",
                   help="also count all hits per day and polarity, source, institution, category, repost group")
    s.add_argument("--interval", metavar="1d", help="the timeline's bucket with --facets: 30m, 1h, 1d, 7d, ...")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser("export", help="write every mention a search finds to a CSV, JSON Lines or XLSX file")
    _search_arguments(s)
    s.add_argument("--format", choices=["csv", "jsonl", "xlsx"], help="default: from the --out file's suffix")
    s.add_argument("--out", required=True, metavar="FILE", help="written whole or not at all (temp file, then rename)")
    s.add_argument("--batch", type=_positive, default=1000, metavar="N", help="mentions read per batch (default 1000)")
    s.set_defaults(sort=None, cursor=None, facets=False, interval=None)  # every hit, in the store's own order

    s = sub.add_parser("prune", help="delete mentions published longer ago than a duration")
    s.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 365d, 52w")
    s.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    s = sub.add_parser("migrate", help="copy the embedded store (mentions and alert state) into Elasticsearch")
    s.add_argument("--to", required=True, choices=["elasticsearch"], help="the configured store.elasticsearch cluster")
    s.add_argument("--batch", type=_positive, default=1000, metavar="N", help="mentions per write (default 1000)")

    s = sub.add_parser("analyze", help="score sentiment, targets, categories and risk of JSON Lines texts")
    s.add_argument("--input", required=True, metavar="IN.jsonl")
    s.add_argument("--output", required=True, metavar="OUT.jsonl")

    s = sub.add_parser("detect", help="causal anomaly scores for a timestamp,value CSV series")
    s.add_argument("--input", required=True, metavar="SERIES.csv")
    s.add_argument("--output", required=True, metavar="SCORES.csv")
    s.add_argument("--direction", choices=["up", "down", "both"], default="up")

    s = sub.add_parser("digest", help="send (or with --dry-run, write) the weekly digest or the daily brief; "
                       "`digest list`: the digests sent")
    s.add_argument("action", nargs="?", choices=["list"], help="list the digests sent (and pending), newest first")
    s.add_argument("--week", metavar="YYYY-Www", help="ISO week (default: the last complete week)")
    s.add_argument("--daily", action="store_true", help="the daily brief (default: yesterday) instead of the week")
    s.add_argument("--day", metavar="YYYY-MM-DD", help="the daily brief of this day")
    s.add_argument("--dry-run", action="store_true", help="write .eml and .html files instead of sending")
    s.add_argument("--out", metavar="DIR", help="where --dry-run writes")
    s.add_argument("--limit", type=int, default=50, metavar="N", help="list: how many (default 50)")
    s.add_argument("--json", action="store_true", help="list: machine-readable output")

    s = sub.add_parser("check", help="run the alert rules once now")
    s.add_argument("--dry-run", action="store_true", help="show the notices a check would send; save and send nothing")

    from app.alerts_cli import add_parser as add_alerts_parser

    add_alerts_parser(sub)

    s = sub.add_parser("jobs", help="the scheduler's jobs, their next runs, and the latest runs and failures")
    s.add_argument("--limit", type=int, default=20, metavar="N", help="how many recent runs (default 20)")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser("status", help="source health, stored mentions, spooled work and recent alerts")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser("demo", help="run the whole pipeline against a bundled sample site (no network needed)")
    s.add_argument("--once", action="store_true", help="one full cycle, then exit with a summary")

    s = sub.add_parser("index", help="Elasticsearch index management")
    s.add_argument("action", choices=["setup"], help="setup: apply the index template and aliases (idempotent)")

    s = sub.add_parser("label", help="correct a stored mention's analysis (recorded with who, when, before, after)")
    s.add_argument("mention_id", metavar="MENTION_ID")
    s.add_argument("--polarity", choices=["negative", "neutral", "positive"])
    g = s.add_mutually_exclusive_group()
    g.add_argument("--category", action="append", metavar="C", help="complaint category code (repeatable)")
    g.add_argument("--no-categories", action="store_true", help="the mention has no complaint category")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--target", action="append", metavar="NAME",
                   help="an institution the post is negative about (repeatable)")
    g.add_argument("--no-targets", action="store_true", help="the post is negative about no institution")
    s.add_argument("--institution", action="append", metavar="NAME",
                   help="the institutions the post names (repeatable; replaces the found ones)")
    s.add_argument("--note", default="", metavar="TEXT", help="why")
    s.add_argument("--by", metavar="NAME", help="who corrects it (default: the login name)")

    s = sub.add_parser("corrections", help="the corrections people made, oldest first")
    s.add_argument("--since", metavar="DATE", help="only those made from this date/time")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser("reanalyze", help="score stored mentions again with the current model, keeping corrections")
    s.add_argument("--since", metavar="DATE", help="only mentions published from this date/time")

    s = sub.add_parser("train", help="train the NLP models from labelled data (see README, model card)")
    s.add_argument("train_args", nargs=argparse.REMAINDER, help="e.g. sentiment --data ../shared/data")
    return p


# Commands that do not read the user's config: `init` writes one, `demo` writes its own, `train`
# reads only its data folder. Every other command validates every section at start-up.
_OWN_CONFIG_COMMANDS = {"init", "demo", "train"}


def _config(args: argparse.Namespace) -> Config:
    if args.command in _OWN_CONFIG_COMMANDS:
        return load(args.config_path, args.data_dir)
    return settings.load(args.config_path, args.data_dir)


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: a command stops the way it does on Ctrl-C (a crawl stops its child first).
    `yuqing run` installs its own handler, which lets running jobs finish."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    # jieba announces building its dictionary on stderr at INFO; a user needs none of it
    logging.getLogger("jieba").setLevel(logging.WARNING)
    try:
        with Services(_config(args), args.config_path) as services:
            return COMMANDS[args.command](args, services)
    except ConfigError as e:
        _err(str(e))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as e:  # a user gets one line, not a traceback; YUQING_DEBUG=1 shows it
        if os.environ.get("YUQING_DEBUG"):
            raise
        from yuqing.storage.base import StoreError

        kind = "" if isinstance(e, (StoreError, OSError)) else f"{type(e).__name__}: "
        _err(f"{args.command} failed: {kind}{e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
