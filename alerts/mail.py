"""Every email the service sends (alerts and digests) is built and sent here.

Contract: each message carries `X-Yuqing-Kind: alert` or `X-Yuqing-Kind: digest`, so mail rules
(and the demo's checks) can sort them without parsing subjects.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from yuqing.config import SmtpConfig

KINDS = ("alert", "digest")


class MailError(RuntimeError):
    """Sending failed; the message names the server and the reason."""


def compose(kind: str, subject: str, sender: str, to: Sequence[str], text: str, html: str,
            images: Mapping[str, bytes] | None = None, headers: Mapping[str, str] | None = None,
            message_id: str = "") -> EmailMessage:
    """A multipart/alternative email (plain text + HTML). `images` maps a Content-ID (without
    angle brackets) to PNG bytes shown inline by the HTML via `<img src="cid:ID">`; they go into a
    multipart/related part with the HTML so clients do not list them as attachments. `headers`
    are added as given (e.g. X-Yuqing-Alert-Id, for deduplication by mail rules). `message_id`
    (`<...@...>`) makes every copy of one notice carry the same Message-ID; default: a new one."""
    if kind not in KINDS:
        raise ValueError(f"email kind {kind!r} is not one of: {', '.join(KINDS)}")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    if to:  # a dry-run digest may have nobody to go to yet
        msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or "yuqing.local")
    msg["X-Yuqing-Kind"] = kind
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_body(("html",))
    if images and html_part is not None:
        for cid, png in images.items():
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                                  disposition="inline", filename=f"{cid}.png")
    return msg


def send(smtp: SmtpConfig, message: EmailMessage) -> None:
    """Send through the configured server (plain, STARTTLS or implicit TLS; login when a username
    is set). Raises MailError naming host:port and what went wrong."""
    where = f"SMTP server {smtp.host}:{smtp.port}"
    recipients = [a.strip() for a in str(message.get("To", "")).split(",") if a.strip()]
    if not recipients:
        raise MailError(f"{where}: the email has no recipients")
    try:
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_seconds,
                                                     context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password)
            refused = client.send_message(message, from_addr=smtp.sender, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as e:
        raise MailError(f"{where}: {type(e).__name__}: {e}") from e
    if refused:
        raise MailError(f"{where}: refused recipient(s) {', '.join(sorted(refused))}")
