"""`yuqing alerts list|show|ack|resolve|silence|unsilence|test` and `yuqing check --dry-run`'s
output: the handlers of the alert lifecycle, kept in one module that the CLI registers (`add_parser`,
`run`), so they move with it as a unit."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from app.services import Services
from yuqing.config import Config, ConfigError, parse_duration


def add_parser(sub: Any) -> None:
    p = sub.add_parser("alerts", help="list, acknowledge, resolve and silence alerts; test a channel")
    actions = p.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")

    s = actions.add_parser("list", help="alerts, newest first (default: the open ones)")
    s.add_argument("--state", action="append", choices=["firing", "acknowledged", "resolved", "silenced", "all"],
                   help="only these states (repeatable; default: all but resolved)")
    s.add_argument("--institution", metavar="I")
    s.add_argument("--source", metavar="S", help="alerts about this source (the silence rule)")
    s.add_argument("--rule", metavar="R")
    s.add_argument("--from", dest="since", metavar="DATE", help="open at some time since this date/time")
    s.add_argument("--limit", type=int, default=100, metavar="N")
    s.add_argument("--silences", action="store_true", help="list the silences in force instead")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = actions.add_parser("show", help="one alert: its evidence and every notice sent for it")
    s.add_argument("id")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = actions.add_parser("ack", help="acknowledge: no more reminders until it resolves or its severity rises")
    s.add_argument("id")
    s.add_argument("--by", required=True, metavar="NAME", help="who takes care of it")
    s.add_argument("--note", default="", metavar="TEXT")

    s = actions.add_parser("resolve", help="resolve by hand (sends the resolved notice)")
    s.add_argument("id")
    s.add_argument("--by", default="", metavar="NAME")
    s.add_argument("--note", default="", metavar="TEXT")

    s = actions.add_parser("silence", help="mute matching alerts for a while")
    s.add_argument("--institution", default="*", metavar="I", help="an institution name (default: all)")
    s.add_argument("--source", default="*", metavar="S", help="a source name, for its silence alerts (default: all)")
    s.add_argument("--rule", default="*", metavar="R", help="a rule name (default: all)")
    s.add_argument("--severity", default="*", choices=["*", "关注", "预警", "紧急"],
                   help="the highest severity muted (default: all)")
    when = s.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", metavar="TIME", help="until this date/time (configured timezone)")
    when.add_argument("--for", dest="duration", metavar="DURATION", help="for this long: 2h, 3d, ...")
    s.add_argument("--by", required=True, metavar="NAME")
    s.add_argument("--why", required=True, metavar="TEXT")

    s = actions.add_parser("unsilence", help="end a silence now")
    s.add_argument("id")

    s = actions.add_parser("test", help="send a test notice through one configured channel now")
    s.add_argument("channel")


def _when(text: str, config: Config, flag: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError("command line", flag, f"{text!r} is not an ISO 8601 date or time") from None
    return when if when.tzinfo else when.replace(tzinfo=config.tz)


def _list(args: argparse.Namespace, config: Config, store: Any) -> int:
    from yuqing.alertstore.model import OPEN_STATES, STATES, AlertQuery

    if args.silences:
        silences = store.silences(active_at=datetime.now(config.tz))
        if args.json:
            print(json.dumps({"silences": [s.to_dict() for s in silences]}, ensure_ascii=False))
        for s in [] if args.json else silences:
            source = f" source={s.source}" if s.source != "*" else ""
            print(f"{s.id}  until {s.until.astimezone(config.tz):%Y-%m-%d %H:%M}  institution={s.institution}{source} "
                  f"rule={s.rule} severity≤{s.severity}  by {s.created_by}: {s.reason}")
        return 0
    states = tuple(STATES) if args.state and "all" in args.state else tuple(args.state or OPEN_STATES)
    query = AlertQuery(institution=args.institution, source=args.source, rule=args.rule, states=states,
                       limit=args.limit, since=_when(args.since, config, "--from") if args.since else None)
    records = store.list_alerts(query)
    if args.json:
        print(json.dumps({"alerts": [r.public() for r in records]}, ensure_ascii=False))
        return 0
    for r in records:
        print(r.summary())
    print(f"{len(records)} alert(s)")
    return 0


def _show(args: argparse.Namespace, config: Config, store: Any) -> int:
    from alerts import render

    record = store.get_alert(args.id)
    if record is None:
        print(f"yuqing: no alert {args.id!r} (see `yuqing alerts list --state all`)", file=sys.stderr)
        return 2
    deliveries = store.deliveries(alert_id=record.id)
    if args.json:
        print(json.dumps({**record.to_dict(), "deliveries": [
            {k: v for k, v in d.to_dict().items() if k != "notice"} for d in deliveries]}, ensure_ascii=False))
        return 0
    print(record.summary())
    if record.acknowledged_by:
        print(f"acknowledged by {record.acknowledged_by} at {record.acknowledged_at:%Y-%m-%d %H:%M}")
    if record.note:
        print(f"note: {record.note}")
    print("\n" + render.text(record.latest) + "\n\nnotices:")
    for d in deliveries:
        done = f"delivered {d.delivered_at:%Y-%m-%d %H:%M}" if d.delivered_at else f"pending, due {d.due_at:%H:%M}"
        error = f", last error: {d.last_error}" if d.last_error else ""
        print(f"  {d.kind:14} → {d.channel}: {done}, {d.attempts} attempt(s){error} (key {d.key})")
    return 0


def _test(args: argparse.Namespace, services: Services) -> int:
    from alerts.channels import DeliveryError
    from alerts.delivery import send_test

    config, setup = services.config, services.alerts
    channel = setup.channels.get(args.channel)
    if channel is None:
        raise ConfigError("command line", "CHANNEL",
                          f"no channel named {args.channel!r} (configured: {', '.join(setup.channels) or 'none'})")
    try:
        key = send_test(channel, datetime.now(config.tz))
    except DeliveryError as e:
        print(f"yuqing: test notice not delivered: {e}", file=sys.stderr)
        return 1
    print(f"test notice delivered to {args.channel} (key {key})")
    return 0


def run(args: argparse.Namespace, services: Services) -> int:
    import alerts
    from alerts import lifecycle

    if args.alerts_action == "test":
        return _test(args, services)
    config, store = services.config, services.alert_store
    now = datetime.now(config.tz)
    try:
        if args.alerts_action == "list":
            return _list(args, config, store)
        if args.alerts_action == "show":
            return _show(args, config, store)
        if args.alerts_action == "ack":
            record = lifecycle.acknowledge(store, args.id, args.by, args.note, now)
            print(f"alert {record.id} acknowledged by {record.acknowledged_by}")
        elif args.alerts_action == "resolve":
            step = alerts.resolve(config, store, args.id, args.by, args.note, now, setup=services.alerts)
            print(f"alert {args.id} resolved; {len(step.notices)} notice(s)")
        elif args.alerts_action == "silence":
            until = (_when(args.until, config, "--until") if args.until else
                     now + timedelta(seconds=parse_duration(args.duration, "command line", "--for")))
            s = lifecycle.silence(store, args.by, args.why, until, now, institution=args.institution,
                                  rule=args.rule, severity=args.severity, source=args.source)
            print(f"silence {s.id} until {s.until:%Y-%m-%d %H:%M}; matching alerts go quiet at the next check")
        else:
            lifecycle.unsilence(store, args.id)
            print(f"silence {args.id} ended")
    except lifecycle.LifecycleError as e:
        print(f"yuqing: {e}", file=sys.stderr)
        return 2
    return 0


def print_dry_run(notices: list[Any]) -> None:
    """What a check would send, rendered, and to which channels; nothing was saved or sent."""
    from alerts import render

    for notice in notices:
        print(f"--- would send to {', '.join(notice.channels) or 'no channel'} ---")
        print(render.text(notice) + "\n")
    print(f"{len(notices)} notice(s) would be sent (dry run: nothing saved or sent)")
