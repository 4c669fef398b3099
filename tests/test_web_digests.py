"""The digest archive in the web app, over a real alert store (SQLite file; the real Elasticsearch
node) holding a sent digest's record and its archived .eml, served by uvicorn and called over HTTP."""
from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

from tests.test_web import inline_code
from tests.web_support import BANK, INSURER, NOW, Site
from yuqing.alertstore.model import DigestSend

PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def archive_digest(site: Site, institutions: list[str], period: str = "2026-W48") -> DigestSend:
    """A weekly digest as the digest job leaves it once sent: the record, and the email in the archive."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = f"舆情周报 {period}"
    msg.set_content("本周负面 3 条\n<script>alert('text')</script>")
    msg.add_alternative('<table style="color:#b42318"><tr><td>本周负面 3 条</td></tr></table>'
                        '<img src="cid:chart@yuqing"><script>alert("html")</script>', subtype="html")
    msg.get_payload()[1].add_related(PIXEL, "image", "png", cid="<chart@yuqing>")
    path = site.config.data_dir / "digests" / "weekly" / period / "team.eml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msg.as_bytes())
    record = DigestSend(kind="weekly", period=period, recipient="team@bank.example", created_at=NOW,
                        subject=msg["Subject"], institutions=institutions, file=str(path), state="sent",
                        sent_at=datetime(2026, 11, 30, 9, 0, tzinfo=NOW.tzinfo))
    assert site.services.alert_store.add_digest_send(record)
    return record


def test_the_archive_lists_digests_and_shows_each_as_sent(site):
    bank = archive_digest(site, [BANK])
    both = archive_digest(site, [BANK, INSURER], period="2026-W47")
    with site.client() as c:
        site.login(c, "viewer")
        listed = c.get("/api/digests").json()
        one = c.get(f"/api/digests/{bank.key}").json()
        page = c.get(f"/digests/{bank.key}").text
        listing = c.get("/digests").text
        sent = c.get(f"/digests/{bank.key}/as-sent")
        assert c.get("/api/digests/no-such").status_code == 404
    assert {d["key"] for d in listed} == {bank.key, both.key}
    assert one["subject"] == "舆情周报 2026-W48" and "本周负面 3 条" in one["text"]
    assert "&lt;script&gt;alert(&#39;text&#39;)" in page and inline_code(page) == [] and inline_code(listing) == []
    assert f'href="/digests/{bank.key}/as-sent"' in page
    # as sent: its own inline styles and images, and a policy that lets nothing run or load
    csp = sent.headers["content-security-policy"]
    assert "sandbox" in csp and "script-src" not in csp and csp.startswith("default-src 'none'")
    assert 'style="color:#b42318"' in sent.text and 'src="data:image/png;base64,' in sent.text
    with site.client() as c:
        site.login(c, "insurer-only")
        assert c.get("/api/digests").json() == []  # both are about the bank
        assert c.get(f"/digests/{bank.key}").status_code == 404
