"""Alerts and silences in the web app, over a real alert store (SQLite file; the alert index on the
real Elasticsearch node), served by uvicorn on 127.0.0.1 and called over HTTP. The alerts are put
in the store as the alert check leaves them; every change goes through the lifecycle operations."""
from __future__ import annotations

import json
from datetime import timedelta

from app.cli import main
from tests.test_web import inline_code
from tests.web_support import BANK, HOSTILE_TITLE, INSURER, NOW, Site, sample_mentions, seed_alert
from yuqing.alertstore.model import CaseQuery


def cli(site: Site, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["--config", str(site.config_path), "--data-dir", str(site.config.data_dir), "alerts", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_api_alerts_answers_what_alerts_list_json_prints(site, capsys):
    bank = seed_alert(site)
    insurer = seed_alert(site, institution=INSURER, severity="关注", hours_ago=30)
    with site.client() as c:
        site.login(c, "viewer")
        everything = c.get("/api/alerts").json()
        assert everything == cli(site, capsys, "list", "--json")
        assert {a["id"] for a in everything["alerts"]} == {insurer.id, bank.id}
        assert c.get("/api/alerts", params={"institution": BANK}).json() == \
            cli(site, capsys, "list", "--json", "--institution", BANK)
        assert [a["id"] for a in c.get("/api/alerts", params={"severity": "关注"}).json()["alerts"]] == [insurer.id]
        assert c.get("/api/alerts", params={"state": "resolved"}).json() == {"alerts": []}
        bad = c.get("/api/alerts", params={"state": "burning"})
        assert bad.status_code == 400 and "request: state: 'burning'" in bad.json()["detail"]
        detail = c.get(f"/api/alerts/{bank.id}").json()
    shown = cli(site, capsys, "show", bank.id, "--json")
    assert {k: v for k, v in detail.items() if k != "history"} == shown and detail["history"] == []
    with site.client() as c:
        site.login(c, "insurer-only")
        assert [a["id"] for a in c.get("/api/alerts").json()["alerts"]] == [insurer.id]
        assert c.get(f"/api/alerts/{bank.id}").status_code == 404
        assert c.get("/api/alerts", params={"institution": BANK}).json() == {"alerts": []}


def test_acknowledge_and_resolve_need_an_analyst_and_say_who_when(site):
    record = seed_alert(site)
    with site.client() as c:
        csrf = site.login(c, "viewer")
        refused = c.post(f"/api/alerts/{record.id}/ack", json={"note": "x"}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
    with site.client() as c:
        csrf = site.login(c, "analyst")
        h = {"X-CSRF-Token": csrf}
        assert c.post(f"/api/alerts/{record.id}/ack", json={"note": "已联系客服"}).status_code == 403  # no token
        acked = c.post(f"/api/alerts/{record.id}/ack", json={"note": "<b>已联系</b>客服"}, headers=h)
        assert acked.status_code == 200, acked.text
        assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged_by"] == "analyst"
        stored = site.services.alert_store.get_alert(record.id)
        assert stored.acknowledged_by == "analyst" and stored.note == "<b>已联系</b>客服"
        assert stored.acknowledged_at is not None and stored.acknowledged_at >= NOW
        page = c.get(f"/alerts/{record.id}").text
        assert "&lt;b&gt;已联系&lt;/b&gt;客服" in page and 'id="alert-acked-by">analyst<' in page
        resolved = c.post(f"/api/alerts/{record.id}/resolve", json={"note": "已处理"}, headers=h)
        assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
        again = c.post(f"/api/alerts/{record.id}/resolve", json={}, headers=h)
        assert again.status_code == 409 and "already resolved" in again.json()["detail"]
        assert c.post("/api/alerts/no-such/ack", json={}, headers=h).status_code == 404
        history = c.get(f"/api/alerts/{record.id}").json()["history"]
    assert [(e["actor"], e["action"], e["detail"].get("note")) for e in history] == [
        ("analyst", "alert.resolve", "已处理"), ("analyst", "alert.ack", "<b>已联系</b>客服")]
    assert site.services.alert_store.get_alert(record.id).state == "resolved"


def test_silences_are_added_listed_and_ended(site, capsys):
    with site.client() as c:
        csrf = site.login(c, "analyst")
        h = {"X-CSRF-Token": csrf}
        made = c.post("/api/silences", json={"reason": "系统升级", "institution": BANK, "duration": "2h",
                                             "source": "forum"}, headers=h)
        assert made.status_code == 201, made.text
        silence = made.json()
        assert (silence["created_by"], silence["institution"], silence["source"]) == ("analyst", BANK, "forum")
        listed = c.get("/api/silences").json()
        assert listed == cli(site, capsys, "list", "--silences", "--json")
        assert [s["id"] for s in listed["silences"]] == [silence["id"]]
        for body, message in (({"reason": "x", "duration": "soon"}, "request: duration: 'soon'"),
                              ({"reason": "x"}, "request: until: give either"),
                              ({"reason": "x", "duration": "1h", "severity": "大"}, "request: severity: '大'"),
                              ({"reason": "x", "duration": "1h", "institution": "某银行"}, "某银行"),
                              ({"reason": "x", "duration": "1h", "source": "weibo"}, "request: source: 'weibo'"),
                              ({"reason": " ", "duration": "1h"}, "needs who")):
            bad = c.post("/api/silences", json=body, headers=h)
            assert bad.status_code in (400, 409) and message in bad.json()["detail"], (body, bad.text)
        page = c.get("/silences").text
        assert "系统升级" in page and f'data-path="/api/silences/{silence["id"]}"' in page
    with site.client() as c:
        csrf = site.login(c, "insurer-only")
        refused = c.post("/api/silences", json={"reason": "x", "duration": "1h"}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403  # viewers do not silence
        assert c.get("/api/silences").json() == {"silences": []}  # not their institution
    with site.client() as c:
        csrf = site.login(c, "analyst")
        assert c.delete(f"/api/silences/{silence['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert c.delete(f"/api/silences/{silence['id']}", headers={"X-CSRF-Token": csrf}).status_code == 404
        assert c.get("/api/silences").json() == {"silences": []}
    actions = [a["action"] for a in site.state.audit_log() if a["action"].startswith("silence.")]
    assert actions == ["silence.end", "silence.add"]


def test_the_alert_page_shows_the_evidence_chart_and_escapes_the_quotes(site):
    record = seed_alert(site)
    with site.client() as c:
        site.login(c, "viewer")
        evidence = c.get(f"/api/alerts/{record.id}/evidence").json()
        page = c.get(f"/alerts/{record.id}").text
        listing = c.get("/alerts").text
    # the window: 36 hourly buckets before the spike's to 12 after it, counted by the store
    assert evidence["interval_seconds"] == 3600 and len(evidence["buckets"]) == 36 + 1 + 12
    negative_bank = [m for m in sample_mentions() if m.polarity == "negative" and BANK in m.institutions]
    assert sum(b["count"] for b in evidence["buckets"]) == len(negative_bank) == 3
    assert page.count('class="bar') == 49 and page.count('class="bar spike"') == 1
    assert HOSTILE_TITLE not in page and "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert 'id="ack-form"' not in page  # a viewer gets no forms
    assert f'href="/alerts/{record.id}"' in listing and inline_code(page) == [] and inline_code(listing) == []


def test_an_alert_about_a_source_names_it_and_charts_its_mentions(sqlite_site):
    record = seed_alert(sqlite_site, source="news")
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        listing = c.get("/alerts").text
        page = c.get(f"/alerts/{record.id}").text
        evidence = c.get(f"/api/alerts/{record.id}/evidence").json()
    assert "<td>来源 news</td>" in listing and "None" not in listing
    assert 'id="alert-title">来源 news · source-quiet' in page
    news = [m for m in sample_mentions() if m.source == "news"
            and NOW - timedelta(hours=37) <= m.published_at < NOW + timedelta(hours=12)]
    assert sum(b["count"] for b in evidence["buckets"]) == len(news) == 1  # the insurer's 50 h ago is outside


def test_every_change_refuses_a_viewer(sqlite_site):
    """Walk the app's routes: every state-changing one but the user's own (logout, saved searches)
    answers 403 to a viewer with a valid CSRF token, before it reads or changes anything."""
    from fastapi.routing import APIRoute

    own = {"/api/login", "/api/logout", "/api/saved-searches", "/api/saved-searches/{search_id}"}
    checked = []
    with sqlite_site.client() as c:
        csrf = sqlite_site.login(c, "viewer")
        for route in sqlite_site.server.server.config.app.routes:
            if not isinstance(route, APIRoute) or route.path in own:
                continue
            for method in route.methods - {"GET", "HEAD"}:
                path = route.path.replace("{search_id}", "1").replace("{", "").replace("}", "")  # an int id
                r = c.request(method, path, json={"note": "", "reason": "x", "duration": "1h", "mention_id": "x",
                                                  "name": "x", "role": "viewer", "password": "long-enough-1",
                                                  "polarity": "neutral"}, headers={"X-CSRF-Token": csrf})
                assert r.status_code == 403, (method, route.path, r.status_code, r.text)
                checked.append(route.path)
    assert len(checked) >= 9
    assert sqlite_site.services.alert_store.list_cases(CaseQuery()) == []
