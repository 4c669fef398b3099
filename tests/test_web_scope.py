"""A user limited to some institutions, through every page and API that shows data: they see what
concerns them — their institutions' mentions, alerts, cases, digests, and the alerts about sources,
which feed every institution — and never another institution's. Over HTTP on both backends."""
from __future__ import annotations

import csv
import io

from tests.test_web_digests import archive_digest
from tests.web_support import BANK, INSURER, NOW, PASSWORD, sample_mentions, seed_alert
from yuqing import cases

BANK_ONLY = [m for m in sample_mentions() if m.institutions == [BANK]]
# text that only the bank's posts hold: it must not show anywhere for the insurer's user
BANK_WORDS = ("锦程银行信用卡年费", "锦程银行网点开业")


def test_a_limited_user_sees_what_concerns_them_and_nothing_of_another_institution(site):
    bank_alert = seed_alert(site, institution=BANK)
    insurer_alert = seed_alert(site, institution=INSURER, hours_ago=3)
    source_alert = seed_alert(site, source="forum", hours_ago=6)  # quotes the bank's hostile post
    bank_case = cases.open_case(site.services.alert_store, BANK_ONLY[0].id, BANK_ONLY[0].title, BANK, "analyst", NOW)
    digest = archive_digest(site, [BANK])
    site.state.save_search("analyst", "锦程银行 负面", {"q": "锦程银行", "polarity": "negative"})
    site.state.add_user("test", "insurer-analyst", "analyst", PASSWORD, institutions=(INSURER,))
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        everywhere = c.post("/api/silences", json={"reason": "全网维护", "duration": "2h"}, headers=h).json()
        bank_silence = c.post("/api/silences", json={"reason": "银行维护", "institution": BANK, "duration": "2h"},
                              headers=h).json()
    with site.client() as c:
        h = {"X-CSRF-Token": site.login(c, "insurer-analyst")}
        # search, its facets (over the API, the page's call and the page with facets inline), export
        found = c.get("/api/search", params={"q": "", "facets": "true", "limit": 50}).json()
        assert found["total"] == 2 and all(INSURER in x["institutions"] for x in found["hits"])
        for facets in (found["facets"], c.get("/api/facets", params={"q": ""}).json()):
            assert [f["value"] for f in facets["institutions"]] == [INSURER]  # not the bank co-named once
            assert sum(f["count"] for f in facets["sources"]) == 2
        for path in ("/search", "/search/facets", "/search?facets=1"):
            page = c.get(path).text
            assert not any(word in page for word in BANK_WORDS), path
            assert f'href="/search?institution={BANK}"' not in page, path
        export = c.get("/api/export", params={"format": "csv"}).text.lstrip("\ufeff")
        exported = list(csv.DictReader(io.StringIO(export)))
        assert len(exported) == 2 and not any(word in str(exported) for word in BANK_WORDS)
        # mentions and their repost groups
        for m in BANK_ONLY:
            assert c.get(f"/api/mentions/{m.id}").status_code == 404
            assert c.get(f"/mentions/{m.id}").status_code == 404
            assert c.get(f"/api/mentions/{m.id}/group").status_code == 404
        # alerts: theirs and the source's; not the bank's
        listed = {a["id"] for a in c.get("/api/alerts").json()["alerts"]}
        assert listed == {insurer_alert.id, source_alert.id}
        alerts_page = c.get("/alerts").text
        assert source_alert.id in alerts_page and bank_alert.id not in alerts_page
        assert c.get(f"/api/alerts/{bank_alert.id}").status_code == 404
        assert c.get(f"/alerts/{bank_alert.id}").status_code == 404
        shown = c.get(f"/api/alerts/{source_alert.id}").json()
        assert shown["source"] == "forum" and shown["latest"]["mentions"] == [] and shown["latest"]["keywords"] == []
        source_page = c.get(f"/alerts/{source_alert.id}").text
        assert "锦程银行" not in source_page  # the quoted post is the bank's
        assert c.get(f"/api/alerts/{source_alert.id}/evidence").status_code == 200
        # a source's alert and an every-institution silence are everyone's: seen, not changed by them
        refused = c.post(f"/api/alerts/{source_alert.id}/ack", json={"note": "x"}, headers=h)
        assert refused.status_code == 403 and "every institution" in refused.json()["detail"]
        assert c.post(f"/api/alerts/{bank_alert.id}/ack", json={"note": "x"}, headers=h).status_code == 404
        assert c.post(f"/api/alerts/{insurer_alert.id}/ack", json={"note": "已跟进"}, headers=h).status_code == 200
        silences = {s["id"] for s in c.get("/api/silences").json()["silences"]}
        assert silences == {everywhere["id"]} and bank_silence["id"] not in c.get("/silences").text
        assert c.delete(f"/api/silences/{everywhere['id']}", headers=h).status_code == 403
        assert c.delete(f"/api/silences/{bank_silence['id']}", headers=h).status_code == 404
        # cases, their KPIs, digests, saved searches
        assert c.get("/api/cases").json() == {"cases": []} and bank_case.id not in c.get("/cases").text
        assert c.get(f"/api/cases/{bank_case.id}").status_code == 404
        assert c.get("/api/cases/kpis").json()["cases"] == 0
        assert c.get("/api/digests").json() == [] and c.get(f"/api/digests/{digest.key}").status_code == 404
        assert c.get(f"/digests/{digest.key}/as-sent").status_code == 404
        assert c.get("/api/saved-searches").json() == [] and "锦程银行 负面" not in c.get("/saved").text
    with site.client() as c:  # an unlimited user still sees and changes all of it
        h = {"X-CSRF-Token": site.login(c, "analyst")}
        assert {a["id"] for a in c.get("/api/alerts").json()["alerts"]} >= {bank_alert.id, source_alert.id}
        assert c.get(f"/api/alerts/{source_alert.id}").json()["latest"]["mentions"] != []
        assert c.post(f"/api/alerts/{source_alert.id}/ack", json={"note": "ok"}, headers=h).status_code == 200
        assert c.get("/api/cases/kpis").json()["cases"] == 1
