"""The weekly digest: week selection, content, MIME structure, dry run and real sending (MailSink)."""
from __future__ import annotations

import dataclasses
import email
from datetime import datetime, timedelta
from email import policy

import pytest
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    NOW,
    SHANGHAI,
    alert_store_fixture,
    hourly,
    make_config,
    mention,
    sink_fixture,
    sqlite_store_fixture,
)

import alerts
from alerts.digest import build_digest, parse_week, send_digest
from yuqing.config import ConfigError

LAST_WEEK = datetime(2026, 3, 2, tzinfo=SHANGHAI)  # Monday of 2026-W10, the last full week before NOW
OTHER = "平安银行"


@pytest.fixture
def weeks_of_data(sqlite_store):
    """Two weeks: W09 quiet, W10 with more (and more negative) mentions for the bank."""
    before = LAST_WEEK - timedelta(days=7)
    sqlite_store.index_many(
        [mention(before + timedelta(hours=5 + 24 * d), polarity="positive") for d in range(7)]
        + [mention(before + timedelta(hours=9 + 24 * d), kind=1) for d in range(0, 7, 2)]
        + [mention(LAST_WEEK + timedelta(hours=10 + 24 * d), polarity="neutral") for d in range(7)]
        + [mention(LAST_WEEK + timedelta(days=3, hours=h), kind=0, risk=0.4 + h / 100) for h in range(12)]
        + [mention(LAST_WEEK + timedelta(days=4, hours=3), kind=4, risk=0.99)]
        + [mention(LAST_WEEK + timedelta(days=1, hours=8), institution=OTHER, kind=2, risk=0.3)]
        + [mention(NOW - timedelta(hours=1), kind=0, risk=1.0)])  # this week: not in the digest
    return sqlite_store


def test_default_week_is_the_last_complete_one(tmp_path):
    config = make_config(tmp_path, 25)
    week = parse_week(None, config, NOW)
    assert (week.label, week.start, week.end) == ("2026-W10", LAST_WEEK, LAST_WEEK + timedelta(days=7))
    assert parse_week(None, config, LAST_WEEK).label == "2026-W09"  # Monday 00:00: W10 has just begun
    assert parse_week("2026-W01", config).start == datetime(2025, 12, 29, tzinfo=SHANGHAI)
    for bad in ("2026-W54", "2026-10", "last week"):
        with pytest.raises(ConfigError, match="--week"):
            parse_week(bad, config)


def test_digest_content_and_mime(tmp_path, weeks_of_data, alert_store):
    config = make_config(tmp_path / "data", 25)
    msg = build_digest(config, weeks_of_data, alert_store, now=NOW)
    assert msg["X-Yuqing-Kind"] == "digest" and "2026-W10" in msg["Subject"] and msg["To"] == "risk@example.com"
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    png = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert png.get_content().startswith(b"\x89PNG") and png["Content-ID"] == "<daily-negative>"
    html = parsed.get_body(("html",)).get_content()
    assert 'src="cid:daily-negative"' in html

    text = parsed.get_body(("plain",)).get_content()
    # bank: 7 neutral + 12 + 1 negative this week (20, 13 negative) vs 7 positive + 4 negative before
    assert f"{BANK}：提及 20（+9），负面 13（+9），负面占比 65.0%（上周 36.4%，+28.6 个百分点）" in text
    assert f"{OTHER}：提及 1（+1），负面 1（+1），负面占比 100.0%（上周 —，—）" in text
    assert "03-05:12" in text and "暴力催收：12" in text and "信息泄露：1" in text
    risky = text.split("五、高风险内容")[1]
    assert risky.index("风险 0.99") < risky.index("风险 0.51") and "风险 1.00" not in risky
    assert "https://example.org/post/" in risky and "本周无告警" in text


def test_digest_lists_the_weeks_alerts(tmp_path, weeks_of_data, sink, alert_store):
    config = make_config(tmp_path / "data", sink.port, {"rules": [{"name": "neg", "type": "spike", "min_count": 3}]})
    spike_end = LAST_WEEK + timedelta(days=2, hours=15)
    hourly(weeks_of_data, spike_end, [8])
    setup = dataclasses.replace(alerts.load(config), retry_delays=())
    [a] = alerts.check(config, weeks_of_data, alert_store, now=spike_end, setup=setup)
    text = build_digest(config, weeks_of_data, alert_store, week="2026-W10").get_body(("plain",)).get_content()
    assert alert_store.get_alert(a.id).summary() in text.split("六、本周告警")[1]
    later = build_digest(config, weeks_of_data, alert_store, week="2026-W11").get_body(("plain",)).get_content()
    assert "本周无告警" in later


def test_dry_run_writes_eml_and_standalone_html(tmp_path, weeks_of_data, alert_store):
    config = make_config(tmp_path / "data", 25, recipients=())
    eml, page = send_digest(config, weeks_of_data, alert_store, week="2026-W10", dry_run_dir=tmp_path / "out")
    assert (eml.name, page.name) == ("digest-2026-W10.eml", "digest-2026-W10.html")
    parsed = email.message_from_binary_file(eml.open("rb"), policy=policy.default)
    assert parsed["X-Yuqing-Kind"] == "digest" and parsed["To"] is None
    assert {"text/plain", "text/html", "image/png"} <= {p.get_content_type() for p in parsed.walk()}
    assert 'src="data:image/png;base64,' in page.read_text(encoding="utf-8")


def test_send_without_recipients_explains(tmp_path, weeks_of_data, alert_store):
    config = make_config(tmp_path / "data", 25, recipients=())
    with pytest.raises(ConfigError) as info:
        send_digest(config, weeks_of_data, alert_store)
    assert info.value.key == "digest.recipients" and "--dry-run" in info.value.problem


def test_send_through_smtp_and_keep_a_copy(tmp_path, weeks_of_data, sink, alert_store):
    config = make_config(tmp_path / "data", sink.port)
    [copy] = send_digest(config, weeks_of_data, alert_store, now=NOW)
    [received] = sink.messages()
    msg = email.message_from_bytes(received.read_bytes(), policy=policy.default)
    assert msg["X-Yuqing-Kind"] == "digest" and msg["Subject"] == email.message_from_bytes(
        copy.read_bytes(), policy=policy.default)["Subject"]
    assert copy.parent == config.data_dir / "digests"


def test_empty_store_still_gives_a_digest(tmp_path, sqlite_store, alert_store):
    msg = build_digest(make_config(tmp_path / "data", 25), sqlite_store, alert_store, now=NOW)
    text = msg.get_body(("plain",)).get_content()
    assert "本周无负面内容" in text and f"{BANK}：提及 0（0）" in text
    assert any(p.get_content_type() == "image/png" for p in msg.walk())


def test_chart_without_a_cjk_font_labels_series_by_number(tmp_path, weeks_of_data, monkeypatch, alert_store):
    """No way to uninstall the system font inside a test: the font lookup is replaced (the only
    stand-in in these tests) to exercise the fallback."""
    from alerts import chart

    monkeypatch.setattr(chart, "cjk_font", lambda: None)
    msg = build_digest(make_config(tmp_path / "data", 25), weeks_of_data, alert_store, now=NOW)
    html = msg.get_body(("html",)).get_content()
    assert f"<li>#1 = {BANK}</li>" in html
    png = next(p for p in msg.walk() if p.get_content_type() == "image/png").get_content()
    assert png.startswith(b"\x89PNG")


def test_digest_survives_a_dead_mail_server(tmp_path, weeks_of_data, sink, alert_store):
    """SMTP down: the digest is spooled, and the next alert check delivers it once the server is back."""
    from test_alerts_support import free_port

    from alerts.digest import resend_spooled
    from alerts.mail import MailError

    down = make_config(tmp_path / "data", free_port())
    with pytest.raises(MailError, match="spooled as .*spool/digests/digest-2026-W10.eml"):
        send_digest(down, weeks_of_data, alert_store, now=NOW)
    assert resend_spooled(down) == []  # still down: kept
    assert len(list((down.data_dir / "spool" / "digests").glob("*.eml"))) == 1
    up = dataclasses.replace(down, smtp=dataclasses.replace(down.smtp, port=sink.port))
    [sent] = resend_spooled(up)
    assert sent.name == "digest-2026-W10.eml" and not sent.exists()
    [received] = sink.messages()
    assert email.message_from_bytes(received.read_bytes(), policy=policy.default)["X-Yuqing-Kind"] == "digest"
    assert resend_spooled(up) == []  # sent once, not again
