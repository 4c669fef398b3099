"""Real parts shared by the alert and digest tests (test modules import the `*_fixture`
functions; pytest knows them by their short `name`): a SQLite store seeded with mentions, the
MailSink as SMTP server, and a scripted HTTP server on 127.0.0.1 standing in for robot webhooks
(it speaks real HTTP; only its answers are scripted)."""
from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from app.mailsink import MailSink
from yuqing.alertstore.sqlite import SqliteAlertStore
from yuqing.config import Config, from_mapping
from yuqing.model import Mention
from yuqing.storage.sqlite import SqliteStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
BANK = "招商银行"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)  # a Tuesday

COMPLAINTS = ["信用卡中心暴力催收，天天打电话骚扰家人", "理财产品亏损，客户经理误导销售",
              "网点乱收费，账户管理费不合理",
              "储户资金被冻结，无法取款", "个人信息泄露，接到大量诈骗电话"]
CATEGORIES = ["debt_collection", "mis_selling", "fees", "account_funds", "data_leak"]


def free_port() -> int:
    """A port nothing listens on (bound and released), to play a dead server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(data_dir: Path, smtp_port: int, alerts: dict[str, Any] | None = None,
                recipients: tuple[str, ...] = ("risk@example.com",), env: dict[str, str] | None = None) -> Config:
    data: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "institutions": [{"name": BANK, "aliases": ["招行"]}, {"name": "平安银行"}],
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "yuqing@example.com", "timeout": "5s"},
        "digest": {"recipients": list(recipients)},
    }
    if alerts is not None:
        data["alerts"] = alerts
    return from_mapping(data, "test.yaml", data_dir, env=env or {})


_seq = iter(range(10**9))


def mention(when: datetime, polarity: str = "negative", institution: str = BANK, kind: int = 0,
            risk: float = 0.5) -> Mention:
    i = next(_seq)
    return Mention(url=f"https://example.org/post/{i}", source="weibo", title=f"{institution}{COMPLAINTS[kind][:6]}{i}",
                   content=f"{institution}{COMPLAINTS[kind]}", published_at=when, institutions=[institution],
                   polarity=polarity, sentiment=0.1 if polarity == "negative" else 0.8, risk=risk,
                   categories=[CATEGORIES[kind]] if polarity == "negative" else [])


def hourly(store: SqliteStore, end: datetime, counts: list[int], **kwargs: Any) -> None:
    """counts[-1] mentions in the hour before `end`, counts[-2] in the hour before that, ..."""
    out = []
    for back, n in enumerate(reversed(counts)):
        start = end - timedelta(hours=back + 1)
        out += [mention(start + timedelta(minutes=(7 * j) % 60), **kwargs) for j in range(n)]
    report = store.index_many(out)
    assert not report.failed


def background(hours: int, seed: int, low: int = 0, high: int = 3) -> list[int]:
    rnd = random.Random(seed)
    return [rnd.randint(low, high) for _ in range(hours)]


@pytest.fixture(name="sqlite_store")
def sqlite_store_fixture(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db", tz=SHANGHAI)
    yield s
    s.close()


@pytest.fixture(name="alert_store")
def alert_store_fixture(tmp_path: Path) -> Iterator[SqliteAlertStore]:
    """The alert tables, in the same SQLite file as `sqlite_store`'s mentions."""
    s = SqliteAlertStore(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture(name="sink")
def sink_fixture(tmp_path: Path) -> Iterator[MailSink]:
    s = MailSink(tmp_path / "outbox")
    s.start()
    yield s
    s.stop()


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedHttp:
    """Answers POSTs with the scripted (status, JSON body) in turn, the last one repeating."""

    answers: list[tuple[int, Any]]
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                server.received.append(Received(parts.path, parse_qs(parts.query), dict(self.headers),
                                                json.loads(raw.decode("utf-8"))))
                status, body = server.answers[min(len(server.received), len(server.answers)) - 1]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(name="http_server")
def http_server_fixture() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(answers: list[tuple[int, Any]], path: str = "/hook") -> ScriptedHttp:
        scripted = ScriptedHttp(answers)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), scripted.handler())
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}{path}"
        return scripted

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
