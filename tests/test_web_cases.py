"""Cases in the web app, over a real alert store (SQLite file; the alert index on the real
Elasticsearch node), served by uvicorn on 127.0.0.1 and called over HTTP."""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.test_web import inline_code
from tests.web_support import BANK, INSURER, Site, sample_mentions
from yuqing.cases import open_case

NEGATIVE, POSITIVE = sample_mentions()[1], sample_mentions()[2]  # the fee complaint; the branch opening


def test_an_analyst_opens_assigns_answers_and_closes_a_case(site):
    with site.client() as c:
        csrf = site.login(c, "viewer")
        assert c.post("/api/cases", json={"mention_id": NEGATIVE.id},
                      headers={"X-CSRF-Token": csrf}).status_code == 403
    with site.client() as c:
        csrf = site.login(c, "analyst")
        h = {"X-CSRF-Token": csrf}
        positive = c.post("/api/cases", json={"mention_id": POSITIVE.id}, headers=h)
        assert positive.status_code == 400 and "not negative" in positive.json()["detail"]
        viewer_handler = c.post("/api/cases", json={"mention_id": NEGATIVE.id, "handler": "viewer"}, headers=h)
        assert viewer_handler.status_code == 400 and "handler 'viewer'" in viewer_handler.json()["detail"]
        assert c.post("/api/cases", json={"mention_id": "no-such"}, headers=h).status_code == 404
        opened = c.post("/api/cases", json={"mention_id": NEGATIVE.id, "handler": "admin"}, headers=h)
        assert opened.status_code == 201, opened.text
        case = opened.json()
        assert (case["status"], case["handler"], case["institution"], case["title"]) == \
            ("open", "admin", BANK, NEGATIVE.title)
        assert datetime.fromisoformat(case["accept_by"]) - datetime.fromisoformat(case["opened_at"]) == \
            timedelta(hours=48)
        twice = c.post("/api/cases", json={"mention_id": NEGATIVE.id}, headers=h)
        assert twice.status_code == 400 and "already has case" in twice.json()["detail"]

        path = f"/api/cases/{case['id']}"
        assert c.patch(path, json={"status": "in_progress"}, headers=h).json()["accepted_at"] is not None
        early = c.patch(path, json={"status": "answered"}, headers=h)
        assert early.status_code == 400 and "note the response" in early.json()["detail"]
        answered = c.patch(path, json={"status": "answered", "response": "<script>x</script>已电话回访"}, headers=h)
        assert answered.status_code == 200 and answered.json()["answered_at"] is not None
        assert c.patch(path, json={"handler": "analyst", "status": "closed"}, headers=h).json()["status"] == "closed"
        assert c.patch(path, json={"status": "done"}, headers=h).status_code == 400
        final = c.get(path).json()
        page = c.get(f"/cases/{case['id']}").text
        mention_page = c.get(f"/mentions/{NEGATIVE.id}").text
    assert [(e["by"], e["action"], e["value"]) for e in final["history"]] == [
        ("analyst", "opened", ""), ("analyst", "assigned", "admin"), ("analyst", "status", "in_progress"),
        ("analyst", "response", "<script>x</script>已电话回访"), ("analyst", "status", "answered"),
        ("analyst", "assigned", "analyst"), ("analyst", "status", "closed")]
    assert "&lt;script&gt;x&lt;/script&gt;已电话回访" in page and "<script>x" not in page
    assert f'href="/cases/{case["id"]}"' in mention_page and 'id="case-open"' in mention_page  # closed: a new one
    assert inline_code(page) == [] and inline_code(mention_page) == []
    actions = [a["action"] for a in site.state.audit_log(target=case["id"])]
    assert actions == ["case.update"] * 3 + ["case.open"]  # refused changes change nothing
    stored = site.services.alert_store.get_case(case["id"])
    assert stored.status == "closed" and stored.handler == "analyst"


def test_overdue_cases_stand_out_and_feed_the_kpis(site):
    store, now = site.services.alert_store, datetime.now(site.config.tz)
    late = open_case(store, NEGATIVE.id, NEGATIVE.title, BANK, "analyst", now - timedelta(days=3), handler="analyst")
    fresh = open_case(store, sample_mentions()[0].id, "", BANK, "analyst", now - timedelta(hours=1))
    insurer = open_case(store, "elsewhere", "", INSURER, "analyst", now - timedelta(days=30))
    with site.client() as c:
        site.login(c, "viewer")
        overdue = c.get("/api/cases", params={"overdue": "true"}).json()["cases"]
        everything = c.get("/api/cases").json()["cases"]
        kpis = c.get("/api/cases/kpis").json()
        page = c.get("/cases", params={"overdue": "true"}).text
        handled = c.get("/api/cases", params={"handler": "analyst"}).json()["cases"]
        assert c.get("/api/cases", params={"status": "pending"}).status_code == 400
        assert c.get("/mentions/" + NEGATIVE.id).text.count('id="case-open"') == 0  # viewers open no cases
    assert [x["id"] for x in everything] == [fresh.id, late.id, insurer.id]
    assert {x["id"]: x["overdue"] for x in overdue} == {late.id: ["accept"], insurer.id: ["accept", "answer"]}
    assert [x["id"] for x in handled] == [late.id]
    assert (kpis["cases"], kpis["accept_due"], kpis["accepted_in_time"], kpis["answer_due"]) == (3, 2, 0, 1)
    assert [x["id"] for x in kpis["overdue"]] == [insurer.id, late.id]  # oldest first
    assert page.count('class="case-row overdue"') == 2 and "超过 48 小时未受理" in page
    with site.client() as c:
        site.login(c, "insurer-only")
        assert [x["id"] for x in c.get("/api/cases").json()["cases"]] == [insurer.id]
        assert c.get(f"/api/cases/{late.id}").status_code == 404
        assert c.get("/api/cases/kpis").json()["cases"] == 1


def open_one(site: Site) -> str:
    with site.client() as c:
        csrf = site.login(c, "analyst")
        r = c.post("/api/cases", json={"mention_id": NEGATIVE.id}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def test_a_handler_must_be_allowed_to_see_the_institution(sqlite_site):
    sqlite_site.state.add_user("test", "insurer-analyst", "analyst", "correct-horse-1", institutions=(INSURER,))
    case_id = open_one(sqlite_site)
    with sqlite_site.client() as c:
        csrf = sqlite_site.login(c, "analyst")
        r = c.patch(f"/api/cases/{case_id}", json={"handler": "insurer-analyst"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 400 and "may see 锦程银行" in r.json()["detail"]
        options = c.get(f"/cases/{case_id}").text
    assert "<option >insurer-analyst</option>" not in options and "insurer-analyst" not in options
