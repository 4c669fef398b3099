"""The weekly digest and the daily brief: periods, content per institution, MIME structure, dry
run, and delivery through a real SMTP server (MailSink, aiosmtpd on loopback) with its idempotency
record in a real SQLite alert store, the spool when the server is down, and the archive."""
from __future__ import annotations

import dataclasses
import email
import re
from datetime import datetime, timedelta
from email import policy

import pytest
from digest_support import BANK, HOSTILE, LAST_WEEK, NOW, OTHER, PRAISE, SHANGHAI, VIRAL, alerts, cases, month
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    alert_store_fixture,
    free_port,
    make_config,
    sink_fixture,
    sqlite_store_fixture,
)

from alerts.digest import (
    archived,
    build_digest,
    parse_day,
    parse_week,
    read_archived,
    resend_spooled,
    send_digest,
    write_preview,
)
from alerts.mail import MailError
from app.settings import validate
from yuqing.config import ConfigError, from_mapping


@pytest.fixture
def store(sqlite_store, alert_store):
    report = sqlite_store.index_many(month())
    assert not report.failed
    for record in alerts():
        alert_store.put_alert(record)
    cases(alert_store, month())
    return sqlite_store


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def html_of(msg) -> str:
    return msg.get_body(("html",)).get_content()


def section(text: str, name: str) -> str:
    """One institution's part of the plain text."""
    return text.split(f"== {name}")[1].split("\n== ")[0]


def test_periods_default_to_the_last_complete_one(tmp_path):
    config = make_config(tmp_path, 25)
    week = parse_week(None, config, NOW)
    assert (week.label, week.start, week.end) == ("2026-W10", LAST_WEEK, LAST_WEEK + timedelta(days=7))
    assert parse_week(None, config, LAST_WEEK).label == "2026-W09"  # Monday 00:00: W10 has just begun
    assert parse_week("2026-W01", config).start == datetime(2025, 12, 29, tzinfo=SHANGHAI)
    assert week.history_start() == LAST_WEEK - timedelta(days=28) and week.previous().label == "2026-W09"
    day = parse_day(None, config, NOW)
    assert (day.label, day.start, day.end) == ("2026-03-09", NOW.replace(day=9, hour=0), NOW.replace(hour=0))
    assert day.history_start() == day.start - timedelta(days=7) and len(day.bucket_labels()) == 24
    for bad in ("2026-W54", "2026-10", "last week"):
        with pytest.raises(ConfigError, match="--week"):
            parse_week(bad, config)
    with pytest.raises(ConfigError, match="--day"):
        parse_day("2026-02-30", config)


def test_figures_risk_and_negative_only_list_per_institution(tmp_path, store, alert_store):
    config = make_config(tmp_path / "data", 25)
    msg = build_digest(config, store, alert_store, now=NOW)
    text = text_of(msg)
    mentions = month()

    def count(bank, since, until, polarity=None):
        return sum(1 for m in mentions if m.institutions == [bank] and since <= m.published_at < until
                   and (polarity is None or m.polarity == polarity))

    week_end, before = LAST_WEEK + timedelta(days=7), LAST_WEEK - timedelta(days=7)
    total, negative = count(BANK, LAST_WEEK, week_end), count(BANK, LAST_WEEK, week_end, "negative")
    prev_negative = count(BANK, before, LAST_WEEK, "negative")
    average = count(BANK, LAST_WEEK - timedelta(days=28), LAST_WEEK, "negative") / 4
    assert f"- {BANK}【高风险】提及 {total}（" in text
    assert f"负面 {negative}（{negative - prev_negative:+d}，四周均值 {average:.1f}）" in text
    assert f"负面占比 {negative / total:.1%}" in text
    assert "本周有 1 次紧急告警" in text  # the one sentence of why
    both = negative + count(OTHER, LAST_WEEK, week_end, "negative")
    assert f"- {OTHER}【" in text and msg["Subject"].startswith(f"舆情周报 2026-W10：负面 {both} 条")

    bank = section(text, BANK)
    listed = bank.split("负面内容")[1].split("投诉类别")[0]
    assert PRAISE.format(bank=BANK) not in listed  # praise that mentions fraud is not negative
    viral = VIRAL.format(bank=BANK).split("，")[0]
    assert listed.startswith(f"（按风险排序，转发已合并）：\n1. {viral}（")
    assert "另有 6 条转发" in listed.split("\n2.")[0]
    assert listed.count(f"{viral}（") == 1  # its reposts are merged, not listed again
    risks = [float(r) for r in re.findall(r"风险 (\d\.\d\d)", listed)]
    assert risks == sorted(risks, reverse=True) and len(risks) == 5
    assert "乱收费 " in bank and "暴力催收 " in bank.split("投诉类别")[1]
    keywords = bank.split("上升关键词：")[1].split("\n")[0]
    assert keywords != "无" and not any(part in keywords for part in ("招商", "银行", "招行"))
    assert "本周话题：\n- " in bank and "暴力催收" in bank.split("本周话题：")[1].split("告警")[0]
    assert "已解除（03-05 10:00，张三 已受理），受理用时 3.0 小时" in bank
    assert "紧急 [negative-spike] 最近 14 条：未受理\n" in bank
    # cases: the viral one in time, the story's never accepted; its answer is not due before 03-12
    assert "新建 2 件）：48 小时内受理 50.0%（1/2），5 个工作日内答复 100.0%（1/1）" in bank
    assert "超时：03-05 09:00 招商银行信用卡中心暴力催收（未按时受理，处置人 赵六）" in bank
    other = section(text, OTHER)
    assert "已受理（李四，03-08 11:00），受理用时 50.0 小时" in other
    assert "新建 1 件）：48 小时内受理 100.0%（1/1），5 个工作日内答复 —（0/0）" in other and "超时" not in other
    assert "原文：（非网页链接）" in other  # a javascript: URL is never given as a link


def test_mime_structure_inline_charts_and_escaping(tmp_path, store, alert_store):
    config = from_mapping({**_mapping(tmp_path), "web": {"base_url": "https://yuqing.bank.example/"}}, "t.yaml",
                          tmp_path / "data", env={})
    msg = build_digest(config, store, alert_store, now=NOW)
    assert msg["X-Yuqing-Kind"] == "digest" and "2026-W10" in msg["Subject"]
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png", "image/png"]
    pngs = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in pngs] == ["<chart-1>", "<chart-2>"]
    assert all(p.get_content().startswith(b"\x89PNG") and p.get_content_disposition() == "inline" for p in pngs)
    html = html_of(parsed)
    assert 'src="cid:chart-1"' in html and 'src="cid:chart-2"' in html
    assert "<script" not in html and "&lt;script&gt;alert(&#39;digest&#39;)&lt;/script&gt;" in html
    assert "javascript:" not in html.split("原文链接不可用")[0]  # only as text after it, never in an href
    assert not re.search(r"<(img|link)[^>]+(src|href)=\"https?:", html)  # no remote image or stylesheet
    assert "<style" not in html and 'style="' in html  # inline CSS only: mail clients drop <style>
    viral = next(m for m in month() if m.engagement == 12_000)
    assert f'href="https://yuqing.bank.example/mentions/{viral.id}"' in html and f'href="{viral.url}"' in html


def _mapping(tmp_path, port=25, **digest):
    return {"timezone": "Asia/Shanghai", "institutions": [{"name": BANK, "aliases": ["招行"]}, {"name": OTHER}],
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "yuqing@example.com", "timeout": "5s"},
            "digest": {"recipients": ["risk@example.com"], **digest}}


def test_recipients_limited_to_institutions_are_validated(tmp_path):
    bad = from_mapping(_mapping(tmp_path, recipients=[{"address": "pr@example.com", "institutions": ["别的银行"]}]),
                       "t.yaml", tmp_path, env={})
    with pytest.raises(ConfigError) as info:
        validate(bad)
    assert info.value.key == "digest.recipients[0].institutions" and "别的银行" in info.value.problem
    for recipients, key in (([{"address": "nobody"}], "digest.recipients[0].address"),
                            ([{"institutions": [BANK]}], "digest.recipients[0].address"),
                            ([{"address": "a@b.cn", "scope": "x"}], "digest.recipients[0].scope"),
                            (["a@b.cn", "a@b.cn"], "digest.recipients[1]"), ([3], "digest.recipients[0]")):
        with pytest.raises(ConfigError) as info:
            from_mapping(_mapping(tmp_path, recipients=recipients), "t.yaml", tmp_path, env={})
        assert info.value.key == key, recipients
    short = from_mapping({**_mapping(tmp_path), "store": {"retention": "30d"}}, "t.yaml", tmp_path, env={})
    with pytest.raises(ConfigError) as info:
        validate(short)
    assert info.value.key == "store.retention" and "35d" in info.value.problem
    validate(from_mapping({**_mapping(tmp_path), "store": {"retention": "35d"}}, "t.yaml", tmp_path, env={}))
    with pytest.raises(ConfigError, match="digest.daily.schedule"):
        from_mapping(_mapping(tmp_path, daily={"schedule": "every day"}), "t.yaml", tmp_path, env={})
    daily = from_mapping(_mapping(tmp_path, daily=True), "t.yaml", tmp_path, env={}).digest.daily
    assert daily.enabled and daily.schedule.cron == "0 8 * * *"
    assert not from_mapping(_mapping(tmp_path), "t.yaml", tmp_path, env={}).digest.daily.enabled  # off by default


def test_each_recipient_gets_their_institutions_once_across_restarts(tmp_path, store, sink, alert_store):
    config = from_mapping(_mapping(tmp_path, sink.port, recipients=[
        "risk@example.com", {"address": "pr@example.com", "institutions": [OTHER]}]), "t.yaml", tmp_path / "data",
        env={})
    records = send_digest(config, store, alert_store, now=NOW)
    assert sorted((r.recipient, r.state, tuple(r.institutions)) for r in records) == [
        ("pr@example.com", "sent", (OTHER,)), ("risk@example.com", "sent", (BANK, OTHER))]
    received = {str(m["To"]): m for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default)
                                          for p in sink.messages())}
    assert set(received) == {"risk@example.com", "pr@example.com"}
    assert f"- {BANK}【" in text_of(received["risk@example.com"])
    assert BANK not in text_of(received["pr@example.com"]) and f"- {OTHER}【" in text_of(received["pr@example.com"])
    for r in records:  # archived exactly as sent
        assert r.file.startswith(str(config.data_dir / "digests" / "weekly" / "2026-W10"))
        assert email.message_from_bytes(open(r.file, "rb").read(), policy=policy.default)["Message-ID"] == \
            received[r.recipient]["Message-ID"]

    # a restart (a new alert store on the same file), the job run again: nothing goes out twice
    from yuqing.alertstore.sqlite import SqliteAlertStore

    again = SqliteAlertStore(alert_store.path)
    try:
        assert [r.state for r in send_digest(config, store, again, now=NOW + timedelta(hours=1))] == ["sent", "sent"]
        assert len(sink.messages()) == 2
        listed = archived(again)
        assert {r.recipient for r in listed} == {"risk@example.com", "pr@example.com"}
        assert [r.recipient for r in archived(again, institutions=[OTHER])] == ["pr@example.com"]
        copy = read_archived(again, next(r.key for r in listed if r.recipient == "pr@example.com"))
        assert copy is not None and "data:image/png;base64," in copy.html and "cid:" not in copy.html
        assert read_archived(again, "nope") is None
    finally:
        again.close()


def test_the_daily_brief_covers_yesterday_by_the_hour(tmp_path, store, sink, alert_store):
    config = from_mapping(_mapping(tmp_path, sink.port, daily=True), "t.yaml", tmp_path / "data", env={})
    wednesday = LAST_WEEK + timedelta(days=2)
    [record] = send_digest(config, store, alert_store, period="2026-03-04", now=NOW, kind="daily")
    assert (record.kind, record.period, record.state) == ("daily", "2026-03-04", "sent")
    [received] = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sink.messages()]
    assert received["Subject"].startswith("舆情日报 2026-03-04：") and received["X-Yuqing-Kind"] == "digest"
    text = text_of(received)
    assert "（较前一日 / 七日均值）" in text and "每小时提及" in text
    day = [m for m in month() if wednesday <= m.published_at < wednesday + timedelta(days=1)
           and m.institutions == [BANK]]
    assert f"- {BANK}【高风险】提及 {len(day)}（" in text
    assert "另有 6 条转发" in section(text, BANK)  # the viral post was that day
    # the weekly digest of the same period is another record: both can go out
    assert send_digest(config, store, alert_store, now=NOW)[0].kind == "weekly" and len(sink.messages()) == 2


def test_dry_run_writes_eml_and_standalone_html_and_records_nothing(tmp_path, store, alert_store):
    config = make_config(tmp_path / "data", 25, recipients=())
    eml, page = write_preview(config, store, alert_store, tmp_path / "out", now=NOW)
    assert (eml.name, page.name) == ("digest-2026-W10.eml", "digest-2026-W10.html")
    parsed = email.message_from_binary_file(eml.open("rb"), policy=policy.default)
    assert parsed["X-Yuqing-Kind"] == "digest" and parsed["To"] is None
    assert {"text/plain", "text/html", "image/png"} <= {p.get_content_type() for p in parsed.walk()}
    assert page.read_text(encoding="utf-8").count('src="data:image/png;base64,') == 2
    assert alert_store.digest_sends() == []
    daily = write_preview(config, store, alert_store, tmp_path / "out", "daily", None, NOW)
    assert [p.name for p in daily] == ["daily-2026-03-09.eml", "daily-2026-03-09.html"]


def test_send_without_recipients_explains(tmp_path, store, alert_store):
    config = make_config(tmp_path / "data", 25, recipients=())
    with pytest.raises(ConfigError) as info:
        send_digest(config, store, alert_store)
    assert info.value.key == "digest.recipients" and "--dry-run" in info.value.problem


def test_empty_store_still_gives_a_digest(tmp_path, sqlite_store, alert_store):
    msg = build_digest(make_config(tmp_path / "data", 25), sqlite_store, alert_store, now=NOW)
    text = text_of(msg)
    assert "本周无负面内容" in text and f"- {BANK}【低风险】提及 0（持平" in text
    assert sum(p.get_content_type() == "image/png" for p in msg.walk()) == 2


def test_chart_without_a_cjk_font_is_labelled_in_english(tmp_path, store, monkeypatch, alert_store):
    """No way to uninstall the system font inside a test: the font lookup is replaced (the only
    stand-in in these tests) to exercise the fallback."""
    from alerts import chart

    monkeypatch.setattr(chart, "cjk_font", lambda: None)
    msg = build_digest(make_config(tmp_path / "data", 25), store, alert_store, now=NOW)
    pngs = [p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 2 and all(png.startswith(b"\x89PNG") for png in pngs)


def test_digest_survives_a_dead_mail_server(tmp_path, store, sink, alert_store):
    """SMTP down: each digest is spooled and recorded pending; the next alert check delivers it
    once the server is back, and only once."""
    down = from_mapping(_mapping(tmp_path, free_port(), recipients=["risk@example.com", "ops@example.com"]),
                        "t.yaml", tmp_path / "data", env={})
    with pytest.raises(MailError, match="not sent to risk@example.com, ops@example.com .*spooled in .*spool/digests"):
        send_digest(down, store, alert_store, now=NOW)
    spooled = sorted((down.data_dir / "spool" / "digests").glob("*.eml"))
    assert len(spooled) == 2 and [r.state for r in alert_store.digest_sends()] == ["pending", "pending"]
    assert resend_spooled(down, alert_store) == []  # still down: kept
    with pytest.raises(MailError):  # the job again, still down: the spooled ones are tried, nothing rebuilt
        send_digest(down, store, alert_store, now=NOW + timedelta(minutes=5))
    assert sorted((down.data_dir / "spool" / "digests").glob("*.eml")) == spooled
    up = dataclasses.replace(down, smtp=dataclasses.replace(down.smtp, port=sink.port))
    sent = resend_spooled(up, alert_store)
    assert sorted(r.recipient for r in sent) == ["ops@example.com", "risk@example.com"]
    assert not any(p.exists() for p in spooled)
    # after the first refusal the others wait for the next round: one failure per round, not one per digest
    assert {r.recipient: (r.attempts, r.last_error) for r in sent} == {"risk@example.com": (4, ""),
                                                                       "ops@example.com": (1, "")}
    assert sorted(str(email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
                  for p in sink.messages()) == ["ops@example.com", "risk@example.com"]
    assert resend_spooled(up, alert_store) == [] and send_digest(up, store, alert_store, now=NOW)[0].state == "sent"
    assert len(sink.messages()) == 2  # sent once, not again


def test_hostile_text_in_the_plain_text_is_just_text(tmp_path, store, alert_store):
    text = text_of(build_digest(make_config(tmp_path / "data", 25), store, alert_store, now=NOW))
    assert HOSTILE.format(bank=OTHER) in text  # plain text shows it as written; no markup there


def test_the_command_sends_lists_and_refuses_bad_flags(tmp_path, sink, capsys):
    import json

    import yaml

    from app.cli import main
    from yuqing.storage.sqlite import SqliteStore

    data = tmp_path / "data"
    data.mkdir()
    store = SqliteStore(data / "yuqing.db", tz=SHANGHAI)
    assert not store.index_many(month()).failed
    store.close()
    config = tmp_path / "yuqing.yaml"
    config.write_text(yaml.safe_dump(_mapping(tmp_path, sink.port), allow_unicode=True), encoding="utf-8")
    base = ["--config", str(config), "--data-dir", str(data), "digest"]
    assert main([*base, "list"]) == 0 and "no digests sent yet" in capsys.readouterr().out
    assert main([*base, "--week", "2026-W10"]) == 0
    assert "weekly digest 2026-W10 sent to risk@example.com: " in capsys.readouterr().out
    assert main([*base, "--week", "2026-W10"]) == 0 and len(sink.messages()) == 1  # already sent: not again
    assert main([*base, "--day", "2026-03-04"]) == 0 and len(sink.messages()) == 2
    capsys.readouterr()
    assert main([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["digests"]
    assert [(d["kind"], d["period"], d["state"], d["recipient"]) for d in listed] == [
        ("daily", "2026-03-04", "sent", "risk@example.com"), ("weekly", "2026-W10", "sent", "risk@example.com")]
    assert main([*base, "list"]) == 0 and "2026-W10    weekly  sent" in capsys.readouterr().out
    assert main([*base, "--daily", "--dry-run", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("daily-*.eml"))) == 1
    assert main([*base, "--week", "2026-W10", "--day", "2026-03-04"]) == 2
    assert "give --week (weekly digest) or --day (daily brief), not both" in capsys.readouterr().err
    assert main([*base, "--dry-run"]) == 2 and "--dry-run needs --out DIR" in capsys.readouterr().err


@pytest.mark.elasticsearch
def test_on_elasticsearch_the_figures_match_sqlite_and_nothing_goes_twice(tmp_path, store, alert_store, sink):
    """The same month in the real Elasticsearch node's mention and alert indexes: the headline
    figures agree with SQLite's, and the idempotency record holds there too."""
    import uuid

    from conftest import es_url

    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    cfg = ElasticsearchConfig(url=es_url(), index_prefix=f"test-digest-{uuid.uuid4().hex[:8]}")
    es, es_alerts = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True), ElasticsearchAlertStore(cfg)
    try:
        es.setup()
        es_alerts.setup()
        assert not es.index_many(month()).failed
        for record in alerts():
            es_alerts.put_alert(record)
        cases(es_alerts, month())
        config = make_config(tmp_path / "data", sink.port)

        def headline(s, a):
            msg = build_digest(config, s, a, now=NOW)
            return msg["Subject"], text_of(msg).split("\n== ")[0]

        assert headline(es, es_alerts) == headline(store, alert_store)
        for _ in range(2):
            [record] = send_digest(config, es, es_alerts, now=NOW)
            assert record.state == "sent"
        assert len(sink.messages()) == 1 and [r.key for r in es_alerts.digest_sends()] == [record.key]
    finally:
        es.drop()
        es.close()
        es_alerts.drop()
        es_alerts.close()


def test_charts_draw_chinese_with_the_projects_cjk_font():
    """`scripts/system-deps` installs fonts-wqy-microhei: the chart finds it, and matplotlib draws
    every Chinese glyph of a chart (it warns "Glyph ... missing from font" for each box)."""
    import warnings

    from alerts import chart

    assert chart.cjk_font() is not None, "no CJK font: run scripts/system-deps (fonts-wqy-microhei)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = chart.polarity_chart(["03-02\n周一", "03-03\n周二"], {"negative": [3, 1], "positive": [1, 2]},
                                   "招商银行 每日提及", "Mentions per day")
    assert png.startswith(b"\x89PNG")
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


def test_a_digest_spooled_by_an_older_yuqing_is_still_sent(tmp_path, store, sink, alert_store):
    """Before digests had records, the spool held `digest-YYYY-Www.eml`: the alert check still
    sends it, once, and archives it."""
    config = make_config(tmp_path / "data", sink.port)
    old = build_digest(config, store, alert_store, now=NOW)
    spool = config.data_dir / "spool" / "digests"
    spool.mkdir(parents=True)
    (spool / "digest-2026-W10.eml").write_bytes(old.as_bytes(policy=policy.SMTP))
    assert resend_spooled(config, alert_store) == []  # no record: nothing of this version's was pending
    [received] = sink.messages()
    assert email.message_from_bytes(received.read_bytes(), policy=policy.default)["Message-ID"] == old["Message-ID"]
    assert not list(spool.glob("*.eml")) and (config.data_dir / "digests" / "legacy" / "digest-2026-W10.eml").exists()
    resend_spooled(config, alert_store)
    assert len(sink.messages()) == 1
