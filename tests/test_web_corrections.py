"""Correcting a mention's analysis from the web app (`yuqing.corrections.correct`, as `yuqing
label`), over a real store (SQLite file; the real Elasticsearch node), called over HTTP."""
from __future__ import annotations

from tests.test_web import inline_code
from tests.web_support import BANK, INSURER, sample_mentions


def test_an_analyst_corrects_the_analysis_and_the_page_says_who_when(site):
    target = sample_mentions()[1]  # negative, about the bank, category fees
    path = f"/api/mentions/{target.id}/corrections"
    with site.client() as c:
        csrf = site.login(c, "viewer")
        assert c.post(path, json={"polarity": "neutral"}, headers={"X-CSRF-Token": csrf}).status_code == 403
    with site.client() as c:
        csrf = site.login(c, "analyst")
        h = {"X-CSRF-Token": csrf}
        assert c.post(path, json={"polarity": "neutral"}).status_code == 403  # no CSRF token
        fixed = c.post(path, json={"polarity": "neutral", "note": "<i>只是咨询</i>"}, headers=h)
        assert fixed.status_code == 200, fixed.text
        body = fixed.json()
        assert body["polarity"] == "neutral" and body["negative_entities"] == [] and body["risk"] == 0.0
        assert body["model_analysis"]["polarity"] == "negative"
        assert body["corrections"][-1]["by"] == "analyst"
        for bad, message in (({"polarity": "angry"}, "polarity must be one of"),
                             ({"categories": ["no_such"]}, "'no_such' is not a configured category"),
                             ({"institutions": ["某某银行"]}, "'某某银行' is not a configured institution"),
                             ({"polarity": "neutral"}, "nothing changed"), ({}, "nothing to correct")):
            r = c.post(path, json=bad, headers=h)
            assert r.status_code == 400 and message in r.json()["detail"], (bad, r.text)
        assert c.post("/api/mentions/no-such/corrections", json={"polarity": "neutral"}, headers=h).status_code == 404
        page = c.get(f"/mentions/{target.id}").text
        found = c.get("/api/search", params={"q": "年费", "polarity": "neutral"}).json()
    stored = site.store.get(target.id)
    assert stored.polarity == "neutral" and stored.corrections[-1]["note"] == "<i>只是咨询</i>"
    assert target.id in [h["id"] for h in found["hits"]]  # search sees the person's value
    assert '<span class="by">analyst</span>' in page and "&lt;i&gt;只是咨询&lt;/i&gt;" in page
    assert "负面 → <strong>中性</strong>" in page and 'id="correct-form"' in page and inline_code(page) == []
    [entry] = [a for a in site.state.audit_log(target=target.id)]
    assert entry["action"] == "mention.correct" and entry["detail"]["polarity"] == "neutral"


def test_a_limited_analyst_changes_only_their_institutions(site):
    site.state.add_user("test", "insurer-analyst", "analyst", "correct-horse-1", institutions=(INSURER,))
    both = sample_mentions()[4]  # about the bank and the insurer
    with site.client() as c:
        csrf = site.login(c, "insurer-analyst", "correct-horse-1")
        h = {"X-CSRF-Token": csrf}
        r = c.post(f"/api/mentions/{both.id}/corrections", json={"institutions": [INSURER]}, headers=h)
        assert r.status_code == 403 and BANK in r.json()["detail"]
        r = c.post(f"/api/mentions/{both.id}/corrections", json={"categories": ["fees"]}, headers=h)
        assert r.status_code == 200 and r.json()["categories"] == ["fees"]
        hidden = c.post(f"/api/mentions/{sample_mentions()[1].id}/corrections", json={"polarity": "neutral"},
                        headers=h)
        assert hidden.status_code == 404  # a bank-only mention is not theirs to see
