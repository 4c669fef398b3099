"""`yuqing demo`: the whole pipeline with no network.

It serves the bundled sample site (`site.py`: RSS and HTML pages about a fictional bank, with a
planted burst of negative posts) and a local SMTP server that saves every email as an `.eml` file
under `DATA_DIR/outbox/`, writes a config pointing at both to `DATA_DIR/demo/yuqing.yaml`, then
runs the real stages: crawl (Scrapy, child process) → analyse → store (the default store in the
data dir, so `yuqing search` sees the mentions afterwards) → detect → alert → digest.
"""
from __future__ import annotations

import email
import secrets
import socket
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from app import settings
from app.services import Services

DEMO_USER = "demo"
# what a new user can do in the web app on the demo's data (the planted burst raises an alert)
WEB_TASKS = ("/alerts: open the alert, acknowledge it with a note; /search?polarity=negative: open a mention, "
             "correct its analysis, open a case and assign it; /cases: set its status, note the response")
DEMO_RECIPIENTS = {"digest": ["team@jincheng-bank.example"], "alert": ["crisis@jincheng-bank.example"]}


def demo_mapping(base_url: str, smtp_port: int) -> dict[str, Any]:
    """The demo's YAML config: the sample site's sources, the local SMTP server, one spike rule."""
    from app.demo.site import demo_config

    mapping = demo_config(base_url)
    mapping.update({
        "timezone": "Asia/Shanghai",
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "yuqing-demo@localhost"},
        "digest": {"recipients": DEMO_RECIPIENTS["digest"], "schedule": "0 9 * * mon"},
        "alerts": {
            "channels": [{"name": "crisis-email", "type": "email", "to": DEMO_RECIPIENTS["alert"]}],
            "rules": [{"name": "negative-spike", "type": "spike", "polarity": "negative", "institution": "*",
                       "bucket": "1h", "history": "7d", "min_count": 5, "threshold": 0.95, "cooldown": "6h",
                       "channels": ["crisis-email"]}],
        },
    })
    return mapping


@dataclass
class CycleSummary:
    crawl: list[str]
    stored: int
    negative: int
    alerts: int
    digest: list[Path]
    outbox: dict[str, int]  # emails in the outbox by their X-Yuqing-Kind header

    def lines(self, data_dir: Path) -> list[str]:
        return [*self.crawl,
                f"stored {self.stored} mention(s), {self.negative} negative",
                f"alerts raised: {self.alerts}",
                f"digest: {', '.join(map(str, self.digest)) or 'sent'}",
                f"outbox ({data_dir / 'outbox'}): " + ", ".join(f"{n} {k}" for k, n in sorted(self.outbox.items())),
                f"try: yuqing --data-dir {data_dir} search 催收"]


def run_cycle(services: Services) -> CycleSummary:
    """One full cycle: crawl, analyse, index, detect, alert, digest."""
    import alerts
    from alerts.digest import send_digest
    from app.crawl import LOCAL_SITE_SETTINGS, crawl
    from yuqing.query import parse
    from yuqing.storage import SearchRequest

    config, store = services.config, services.store
    reports = crawl(services, settings=LOCAL_SITE_SETTINGS)
    stored = store.search(SearchRequest(query=parse(""), limit=0)).total
    negative = store.search(SearchRequest(query=parse(""), polarity="negative", limit=0)).total
    raised = alerts.check(config, store, services.alert_store, setup=services.alerts)
    # the week so far, so the digest shows the planted burst and its alert (the scheduled
    # Monday digest covers the last complete week)
    year, week, _ = datetime.now(config.tz).isocalendar()
    sent = send_digest(config, store, services.alert_store, period=f"{year}-W{week:02d}")
    digest = [Path(r.file) for r in sent]
    return CycleSummary([r.summary() for r in reports], stored, negative, len(raised), digest,
                        outbox_kinds(services.data.outbox))


def demo_account(services: Services) -> str:
    """(Re)create the demo's admin account with a fresh random password; returns the password."""
    from app.web import WebState, state_path

    password = secrets.token_urlsafe(9)
    state = WebState(state_path(services))
    try:
        state.add_user("demo", DEMO_USER, "admin", password, replace=True)
    finally:
        state.close()
    return password


def _free_port(host: str, wanted: int) -> int:
    """`wanted` when nothing listens there, else any free port (the demo must start anyway)."""
    with socket.socket() as s:
        try:
            s.bind((host, wanted))
        except OSError:
            return 0
    return wanted


def outbox_kinds(outbox: Path) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for path in outbox.glob("**/*.eml"):
        with path.open("rb") as f:
            kind = (email.message_from_binary_file(f).get("X-Yuqing-Kind") or "none").strip()
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def run_demo(data_dir: Path, once: bool) -> int:
    from app.demo.site import DemoSite
    from app.mailsink import MailSink
    from yuqing.datadir import DataDir

    data = DataDir(data_dir)
    site = DemoSite()
    sink = MailSink(data.outbox)
    base_url = site.start()
    try:
        _, port = sink.start()
        config_path = data.demo / "yuqing.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text("# written by `yuqing demo`; the sample site and mail sink live only while it runs\n"
                               + yaml.safe_dump(demo_mapping(base_url, port), allow_unicode=True, sort_keys=False),
                               encoding="utf-8")
        print(f"demo: sample site at {base_url}, SMTP outbox at 127.0.0.1:{port} → {data.outbox}", flush=True)
        with Services(settings.load(config_path, data_dir), str(config_path)) as services:
            summary = run_cycle(services)
            for line in summary.lines(data_dir):
                print(f"demo: {line}", flush=True)
            if not (summary.stored and summary.outbox.get("alert") and summary.outbox.get("digest")):
                print("demo: expected mentions, an alert email for the planted burst and a digest email; "
                      "see the lines above", file=sys.stderr)
                return 1
            account = f"log in as {DEMO_USER} with password {demo_account(services)}"
            print(f"demo: in the web app: {WEB_TASKS}", flush=True)
            if once:
                print(f"demo: web app: `yuqing --config {config_path} serve`, then {account}", flush=True)
                return 0
            from app.crawl import LOCAL_SITE_SETTINGS
            from app.scheduler import Service
            from app.web import beside

            service = Service(services, crawl_settings=LOCAL_SITE_SETTINGS)
            web = services.config.web
            with beside(services, port=_free_port(web.host, web.port)) as url:
                print(f"demo: web app at {url}/ — {account}", flush=True)
                service.run_forever()
            return 0
    finally:
        sink.stop()
        site.stop()
