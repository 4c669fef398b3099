"""A saved search made an alert in the web app, without editing the config: turned on over the
API, a matching mention comes in through the one ingest path, the scheduler's alert check runs and
a real webhook on loopback receives the notice; turned off, its open alert resolves and a new match
raises nothing. Real SQLite stores, a real `web.db`, the app on a real socket."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from test_alerts_support import http_server_fixture  # noqa: F401 (a fixture, known to pytest by its short name)

from app.cli import main
from app.scheduler import run_check
from app.web.saved_alerts import alert_setup
from tests.web_support import BANK, INSURER, PASSWORD, start_site
from yuqing.model import Mention

COMPLAINT = "锦程银行 信用卡 乱收年费，客服一直推诿，要求退还。"


@pytest.fixture
def hooked(tmp_path, http_server):
    """The site with one webhook channel on loopback and no rule in the config file."""
    hook = http_server([(200, {"ok": True})])
    site = start_site(tmp_path, "sqlite", alerts={
        "channels": [{"name": "team", "type": "webhook", "url": hook.url}], "rules": []})
    yield site, hook
    site.close()


def arrive(site, text: str, n: int) -> None:
    """A new post, published minutes ago, through the ingest path a crawl uses (analysed for real)."""
    now = datetime.now(site.config.tz)
    report = site.services.ingest.ingest([Mention(url=f"https://bbs.example.com/new/{n}", source="forum",
                                                  title="年费", content=text,
                                                  published_at=now - timedelta(minutes=5))], "forum")
    assert report.stored == 1, report


def test_a_saved_search_alert_turned_on_in_the_app_notifies_its_channel_through_the_check(hooked):
    site, hook = hooked
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        made = c.post("/api/saved-searches", json={"name": "年费投诉", "q": "乱收年费", "institution": BANK},
                      headers=h)
        assert made.status_code == 201, made.text
        search_id = made.json()["id"]
        path = f"/api/saved-searches/{search_id}/alert"
        assert made.json()["alert"] is None
        # validated as a rule of alerts.rules is, naming the key
        bad = c.put(path, json={"channels": ["nope"]}, headers=h)
        assert bad.status_code == 400 and "channels" in bad.json()["detail"] and "'nope'" in bad.json()["detail"]
        bad = c.put(path, json={"channels": ["team"], "severity": "大"}, headers=h)
        assert bad.status_code == 400 and "severity" in bad.json()["detail"]
        assert c.put(path, json={"channels": ["team"]}).status_code == 403  # no CSRF token
        on = c.put(path, json={"channels": ["team"], "severity": "预警"}, headers=h)
        assert on.status_code == 200, on.text
        assert on.json()["alert"] == {"channels": ["team"], "severity": "预警", "window": "1h", "min_count": 1}

    # the sample's posts that match are two days old: nothing in the window yet
    assert run_check(site.services) == [] and hook.received == []
    arrive(site, COMPLAINT, 1)
    arrive(site, "华信保险 理赔慢，等了一个月。", 2)  # not a match
    [notice] = run_check(site.services)
    assert (notice.rule, notice.institution, notice.count, notice.severity, notice.notice) == \
        ("analyst/年费投诉", BANK, 1, "预警", "firing")
    [sent] = hook.received
    assert sent.body["rule"] == "analyst/年费投诉" and sent.body["notice"] == "firing"
    assert "乱收年费" in sent.body["keywords"]
    assert run_check(site.services) == []  # the same alert does not notify again at once

    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        [listed] = c.get("/api/alerts").json()["alerts"]
        assert listed["rule"] == "analyst/年费投诉" and listed["state"] == "firing"
        page = c.get("/saved")
        assert page.status_code == 200 and "已开启" in page.text and "关闭告警" in page.text
        assert c.delete(path, headers=h).status_code == 204
        [closed] = c.get("/api/alerts", params={"state": "all"}).json()["alerts"]
        assert closed["state"] == "resolved"
        assert c.get("/api/saved-searches").json()[0]["alert"] is None
    assert [r.body["notice"] for r in hook.received] == ["firing", "resolved"]  # its channel is told
    arrive(site, COMPLAINT + "再次投诉。", 3)
    assert run_check(site.services) == [] and len(hook.received) == 2  # off: no alert
    actions = [a["action"] for a in site.state.audit_log() if a["action"].startswith("search.alert")]
    assert actions == ["search.alert.off", "search.alert.on"]


def test_only_analysts_turn_alerts_on_and_only_on_their_own_searches(hooked):
    site, _ = hooked
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "viewer")}
        mine = c.post("/api/saved-searches", json={"name": "催收", "q": "催收"}, headers=h).json()
        r = c.put(f"/api/saved-searches/{mine['id']}/alert", json={"channels": ["team"]}, headers=h)
        assert r.status_code == 403 and "analyst" in r.json()["detail"]
        assert "开启告警" not in c.get("/saved").text
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        assert c.put(f"/api/saved-searches/{mine['id']}/alert", json={"channels": []},
                     headers=h).status_code == 404  # the viewer's, not the analyst's
        everything = c.post("/api/saved-searches", json={"name": "全部", "q": ""}, headers=h).json()
        r = c.put(f"/api/saved-searches/{everything['id']}/alert", json={"channels": []}, headers=h)
        assert r.status_code == 400 and "query" in r.json()["detail"]  # a rule needs a term to look for


def test_the_rule_watches_only_the_owners_institutions_and_a_broken_one_is_skipped(hooked, caplog):
    site, _ = hooked
    site.state.add_user("test", "bank-analyst", "analyst", PASSWORD, institutions=(BANK,))
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "bank-analyst")}
        made = c.post("/api/saved-searches", json={"name": "理赔", "q": "理赔"}, headers=h).json()
        assert c.put(f"/api/saved-searches/{made['id']}/alert", json={"channels": ["team"]},
                     headers=h).status_code == 200
        other = c.post("/api/saved-searches", json={"name": "保险", "q": "理赔", "institution": INSURER},
                       headers=h).json()
        r = c.put(f"/api/saved-searches/{other['id']}/alert", json={"channels": ["team"]}, headers=h)
        assert r.status_code == 400 and "institution" in r.json()["detail"]
        third = c.post("/api/saved-searches", json={"name": "催收", "q": "催收"}, headers=h).json()
    # a channel taken out of the config after the alert was turned on: that rule is skipped, loudly
    site.state.set_search_alert("bank-analyst", third["id"], {"channels": ["gone"], "severity": "关注",
                                                              "window": "1h", "min_count": 1})
    with caplog.at_level(logging.ERROR, logger="yuqing.web"):
        rules = alert_setup(site.services).rules
    [rule] = rules
    assert rule.name == "bank-analyst/理赔" and [i.name for i in rule.institutions] == [BANK]
    assert "'gone'" in caplog.text and "skipped" in caplog.text
    arrive(site, "华信保险 理赔慢，等了一个月。", 4)  # the insurer's: outside the owner's institutions
    assert run_check(site.services) == []


def test_a_saved_search_alert_resolved_from_the_command_line_tells_its_channel(hooked):
    site, hook = hooked
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        made = c.post("/api/saved-searches", json={"name": "年费", "q": "乱收年费"}, headers=h).json()
        assert c.put(f"/api/saved-searches/{made['id']}/alert", json={"channels": ["team"]},
                     headers=h).status_code == 200
    arrive(site, COMPLAINT, 5)
    [notice] = run_check(site.services)
    # `yuqing alerts resolve` knows only the config's rules: the alert's own channels are told
    assert main(["--config", str(site.config_path), "--data-dir", str(site.config.data_dir), "alerts", "resolve",
                 notice.id, "--by", "值班", "--note", "已处理"]) == 0
    assert [r.body["notice"] for r in hook.received] == ["firing", "resolved"]
