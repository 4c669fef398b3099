"""Export of a whole search result from the web app, streamed from the store's scan (SQLite file;
the real Elasticsearch node), downloaded over HTTP and read back with the csv module and openpyxl."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl

from tests.web_support import BANK, HOSTILE_TITLE, INSURER, NOW, sample_mentions
from yuqing.export import COLUMNS
from yuqing.model import Mention


def test_export_downloads_every_hit_as_csv_and_xlsx(site):
    with site.client() as c:
        site.login(c, "viewer")
        params = {"q": "锦程银行", "polarity": "negative"}
        total = c.get("/api/search", params=params).json()["total"]
        r = c.get("/api/export", params={**params, "format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"].startswith('attachment; filename="yuqing-')
        assert r.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert tuple(rows[0]) == COLUMNS and len(rows) - 1 == total == 3
        titles = {row[COLUMNS.index("title")] for row in rows[1:]}
        assert HOSTILE_TITLE in titles  # text stays text; a formula-like cell would get a leading '
        x = c.get("/api/export", params={**params, "format": "xlsx"})
        sheet = openpyxl.load_workbook(io.BytesIO(x.content), read_only=True).active
        assert [tuple(r) for r in sheet.iter_rows(max_row=1, values_only=True)] == [COLUMNS]
        assert sheet.max_row - 1 == total
        bad = c.get("/api/export", params={"format": "pdf"})
        assert bad.status_code == 400 and "request: format: 'pdf'" in bad.json()["detail"]
        page = c.get("/search", params=params).text
    assert 'id="export-csv" href="/api/export?format=csv&amp;q=' in page
    with site.client() as c:
        site.login(c, "insurer-only")
        rows = list(csv.reader(io.StringIO(c.get("/api/export", params={"format": "csv"}).content.decode("utf-8-sig"))))
    assert len(rows) - 1 == 2 and all(INSURER in row[COLUMNS.index("institutions")] for row in rows[1:])
    assert [a["action"] for a in site.state.audit_log()][:1] == ["export"]


def test_export_is_not_cut_at_ten_thousand_rows(sqlite_site):
    extra = [Mention(url=f"https://bbs.example.com/bulk/{i}", source="forum", title=f"=HYPERLINK(\"x\") {i}",
                     content="锦程银行 催收", published_at=NOW - timedelta(minutes=i), polarity="negative",
                     institutions=[BANK]) for i in range(10_050)]
    assert not sqlite_site.store.index_many(extra).failed
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        with c.stream("GET", "/api/export", params={"format": "csv", "q": "催收"}) as r:
            body = b"".join(r.iter_bytes())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    expected = 10_050 + sum(1 for m in sample_mentions() if "催收" in m.text)
    assert len(rows) - 1 == expected
    formulas = [row[COLUMNS.index("title")] for row in rows[1:] if "HYPERLINK" in row[COLUMNS.index("title")]]
    assert len(formulas) == 10_050 and all(t.startswith("'=") for t in formulas)  # shown, never run
