"""The MailSink as a real SMTP server, and the shared mail module sending to it."""
from __future__ import annotations

import email
import smtplib
from email import policy

import pytest
from test_alerts_support import free_port, make_config

from alerts import mail
from app.mailsink import MailSink


def test_sink_saves_each_email_in_order(tmp_path):
    sink = MailSink(tmp_path / "outbox")
    host, port = sink.start()
    try:
        assert host == "127.0.0.1" and port > 0
        for n in range(3):
            msg = mail.compose("alert", f"第{n}封", "a@example.com", ["b@example.com", "c@example.com"],
                               f"正文 {n}", f"<p>正文 {n}</p>", images={"chart": b"\x89PNG fake"})
            mail.send(make_config(tmp_path / "data", port).smtp, msg)
        saved = sink.messages()
    finally:
        sink.stop()
        sink.stop()  # idempotent
    assert len(saved) == 3
    subjects = [email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"] for p in saved]
    assert subjects == ["第0封", "第1封", "第2封"]
    first = email.message_from_bytes(saved[0].read_bytes(), policy=policy.default)
    assert first["X-Yuqing-Kind"] == "alert" and first["To"] == "b@example.com, c@example.com"
    assert [p.get_content_type() for p in first.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    assert not list((tmp_path / "outbox").glob("*.part"))


def test_sink_on_a_given_port_and_restart(tmp_path):
    port = free_port()
    with MailSink(tmp_path / "outbox", port=port) as sink:
        assert sink.port == port
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:  # a hang guard only
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nhello\r\n")
    with MailSink(tmp_path / "outbox", port=port) as again:  # messages of earlier runs stay listed
        assert len(again.messages()) == 1


def test_sink_reports_a_busy_port(tmp_path):
    with MailSink(tmp_path / "a") as first, pytest.raises(OSError, match=str(first.port)):
        MailSink(tmp_path / "b", port=first.port).start()


def test_send_to_a_dead_server_names_it(tmp_path):
    port = free_port()
    msg = mail.compose("digest", "s", "a@example.com", ["b@example.com"], "t", "<p>t</p>")
    with pytest.raises(mail.MailError, match=f"127.0.0.1:{port}"):
        mail.send(make_config(tmp_path / "data", port).smtp, msg)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        mail.compose("newsletter", "s", "a@example.com", ["b@example.com"], "t", "<p>t</p>")
