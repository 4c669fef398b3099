"""A running web app over a real store for the web tests: the app on a real socket (uvicorn on
127.0.0.1, port 0), the mention store a real SQLite file or an index on the real Elasticsearch
node, the users in a real `web.db`. Crawled text in the sample is hostile on purpose."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from app import settings
from app.services import Services
from app.web import WebServer, WebState, state_path
from tests.conftest import SHANGHAI, es_url
from yuqing.alertstore.model import Alert, AlertMention, AlertRecord
from yuqing.config import Config
from yuqing.model import Mention
from yuqing.storage import Store, open_store

PASSWORD = "correct-horse-1"
BANK, INSURER = "锦程银行", "华信保险"
HOSTILE_TITLE = '<script>alert("title")</script>锦程银行 催收'
HOSTILE_CONTENT = ('锦程银行 暴力催收 <img src=x onerror="alert(\'img\')"> 爆通讯录 '
                   '<script>alert("body")</script> <a href="javascript:alert(\'a\')">点我</a>')
HOSTILE_URL = "javascript:alert('url')"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)


def sample_mentions() -> list[Mention]:
    """Six analysed mentions: four about the bank (one hostile, one a repost with an estimated date),
    one about the insurer, one about both."""
    def m(url: str, title: str, content: str, hours: int, polarity: str, institutions: list[str],
          source: str = "forum", categories: list[str] | None = None) -> Mention:
        return Mention(url=url, source=source, title=title, content=content, author="网友",
                       published_at=NOW - timedelta(hours=hours), polarity=polarity,
                       sentiment=0.1 if polarity == "negative" else 0.6, institutions=institutions,
                       negative_entities=institutions if polarity == "negative" else [],
                       categories=categories or [], risk=0.8 if polarity == "negative" else 0.1,
                       keywords=["催收"] if polarity == "negative" else [])
    out = [
        m(HOSTILE_URL, HOSTILE_TITLE, HOSTILE_CONTENT, 1, "negative", [BANK], categories=["debt_collection"]),
        m("https://bbs.example.com/t/2", "锦程银行信用卡年费", "锦程银行 信用卡 乱收年费，客服推诿。", 5, "negative",
          [BANK], categories=["fees"]),
        m("https://news.example.com/a/3", "锦程银行网点开业", "锦程银行 新网点开业，服务很好。", 30, "positive", [BANK],
          source="news"),
        m("https://news.example.com/a/4", "华信保险理赔快", "华信保险 理赔很快，点赞。", 50, "positive", [INSURER],
          source="news"),
        m("https://bbs.example.com/t/5", "锦程银行与华信保险合作", "锦程银行 华信保险 合作推出新产品。", 70, "neutral",
          [BANK, INSURER]),
    ]
    reposted = out[1]
    reposted.group_id = reposted.id  # the repost below is a copy of it: one repost group
    out.append(Mention(group_id=reposted.id, url="https://weibo.example.com/r/6", source="forum", title="",
                       content="转发：锦程银行 乱收年费",
                       published_at=NOW - timedelta(hours=4), published_estimated=True, repost_of=reposted.id,
                       polarity="negative", institutions=[BANK]))
    return out


@dataclass
class Site:
    config: Config
    config_path: Path
    store: Store
    state: WebState
    server: WebServer
    url: str
    services: Services

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=60, **kwargs)

    def login(self, client: httpx.Client, name: str, password: str = PASSWORD) -> str:
        """Log `client` in; returns the CSRF token for its changes."""
        r = client.post("/api/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["csrf_token"])

    def close(self) -> None:
        self.server.stop()
        self.state.close()
        for store in (self.store, self.services.alert_store):
            drop = getattr(store, "drop", None)
            if drop is not None:
                drop()
            store.close()


def start_site(tmp_path: Path, backend: str, web: dict[str, Any] | None = None,
               alerts: dict[str, Any] | None = None) -> Site:
    """Config file, store with the sample mentions, users admin/analyst/viewer/insurer-only, app running
    (`alerts`: the config's alerts section)."""
    mapping: dict[str, Any] = {
        "institutions": [{"name": BANK}, {"name": INSURER}],
        "sources": [{"name": "forum", "type": "rss", "params": {"url": "http://127.0.0.1:9/forum.xml"}},
                    {"name": "news", "type": "rss", "params": {"url": "http://127.0.0.1:9/news.xml"}}],
        "web": web or {},
    }
    if alerts is not None:
        mapping["alerts"] = alerts
    if backend == "elasticsearch":
        mapping["store"] = {"backend": "elasticsearch",
                            "elasticsearch": {"url": es_url(), "index_prefix": f"test-web-{uuid.uuid4().hex[:8]}"}}
    else:
        mapping["store"] = {"sqlite": {"path": str(tmp_path / "mentions.db")}}
    config_path = tmp_path / "yuqing.yaml"
    config_path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    config = settings.load(config_path, tmp_path / "data", env={})
    if backend == "elasticsearch":
        from yuqing.storage.elasticsearch import ElasticsearchStore

        store: Store = ElasticsearchStore(config.store.elasticsearch, tz=config.tz, refresh=True)
        store.setup()  # type: ignore[attr-defined]
    else:
        store = open_store(config)
    report = store.index_many(sample_mentions())
    assert not report.failed, report.failed
    services = Services(config, str(config_path), store=store)
    services.alert_store.setup()  # the alert index on Elasticsearch; nothing to do on SQLite
    state = WebState(state_path(services))
    for name, role in (("admin", "admin"), ("analyst", "analyst"), ("viewer", "viewer")):
        state.add_user("test", name, role, PASSWORD)
    state.add_user("test", "insurer-only", "viewer", PASSWORD, institutions=(INSURER,))
    server = WebServer(services, state, host="127.0.0.1", port=0)
    return Site(config, config_path, store, state, server, server.start(), services)


def seed_alert(site: Site, institution: str = BANK, severity: str = "预警", hours_ago: int = 0,
               source: str = "") -> AlertRecord:
    """An open alert in the site's real alert store, as the alert check would leave it: the spike
    bucket of the sample's negative posts about the bank, quoting the hostile post (with `source`:
    an alert about that source, its institution empty, as the silence rule raises)."""
    if source:
        institution = ""
    start = NOW - timedelta(hours=hours_ago + 1)
    hostile = sample_mentions()[0]
    latest = Alert(rule="source-quiet" if source else "negative-spike", institution=institution,
                   polarity="any" if source else "negative", source=source, bucket_start=start,
                   bucket_end=start + timedelta(hours=1), count=3, baseline=0.4, score=0.97, created_at=NOW,
                   severity=severity, channels=[], keywords=["催收"], categories=[("暴力催收", 1)],
                   mentions=[AlertMention(title=hostile.title, url=hostile.url, source=hostile.source,
                                          published_at=NOW.isoformat(), risk=0.8)])
    record = AlertRecord(id=latest.id, rule=latest.rule, institution=institution, source=source, severity=severity,
                         state="firing", started_at=NOW, updated_at=NOW, last_seen_at=NOW, latest=latest, notices=1)
    return site.services.alert_store.put_alert(record)
