"""Saved searches: each user's own, kept in `web.db`, over HTTP against the running app."""
from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.web_support import BANK
from yuqing.config import from_mapping


def test_a_user_saves_lists_opens_and_deletes_searches(sqlite_site):
    site = sqlite_site
    with site.client() as c:
        csrf = site.login(c, "viewer")
        h = {"X-CSRF-Token": csrf}
        body = {"name": "<b>催收</b> 负面", "q": "催收", "polarity": "negative", "institution": BANK, "from": ""}
        assert c.post("/api/saved-searches", json=body).status_code == 403  # no CSRF token
        made = c.post("/api/saved-searches", json=body, headers=h)
        assert made.status_code == 201, made.text
        saved = made.json()
        assert saved["params"] == {"q": "催收", "polarity": "negative", "institution": BANK}
        assert parse_qs(urlsplit(saved["url"]).query) == {"q": ["催收"], "polarity": ["negative"],
                                                           "institution": [BANK]}
        again = c.post("/api/saved-searches", json=body, headers=h)
        assert again.status_code == 400 and "already" in again.json()["detail"]
        broken = c.post("/api/saved-searches", json={"name": "坏的", "q": "(催收"}, headers=h)
        assert broken.status_code == 400  # a search that cannot run is not saved
        assert c.post("/api/saved-searches", json={"name": " ", "q": "x"}, headers=h).status_code == 400
        [listed] = c.get("/api/saved-searches").json()
        assert listed["name"] == "<b>催收</b> 负面"
        # the rule that watches it is a valid saved_search rule for this config
        rule = yaml.safe_load(listed["rule"])[0]
        assert (rule["type"], rule["query"], rule["polarity"], rule["institution"]) == \
            ("saved_search", "催收", "negative", BANK)
        import alerts

        config = dataclasses.replace(site.config, alerts=from_mapping(
            {"institutions": [{"name": BANK}], "alerts": {"channels": [{"name": "m", "type": "email",
                                                                        "to": ["a@example.org"]}],
                                                         "rules": [{**rule, "channels": ["m"]}]}},
            "t.yaml", site.config.data_dir, env={}).alerts)
        [loaded] = alerts.load(config).rules
        assert loaded.TYPE == "saved_search" and loaded.polarity == "negative"
        opened = c.get(saved["url"])
        assert opened.status_code == 200 and 'value="催收"' in opened.text
        assert "&lt;b&gt;催收&lt;/b&gt; 负面" in opened.text and f'href="{saved["url"].replace("&", "&amp;")}"' \
            in opened.text
    with site.client() as c:
        csrf = site.login(c, "analyst")
        assert c.get("/api/saved-searches").json() == []  # each user's own
        assert c.delete(f"/api/saved-searches/{saved['id']}", headers={"X-CSRF-Token": csrf}).status_code == 404
    with site.client() as c:
        csrf = site.login(c, "viewer")
        assert c.delete(f"/api/saved-searches/{saved['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert c.get("/api/saved-searches").json() == []
    actions = [a["action"] for a in site.state.audit_log() if a["action"].startswith("search.")]
    assert actions == ["search.delete", "search.save"]
