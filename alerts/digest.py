"""The weekly digest and the daily brief (`yuqing digest`, and the scheduler's jobs).

Which period: `alerts.period` (the last complete ISO week, or day, in the configured timezone).
What it says: `alerts.digest_content`, per institution in the reader's scope. How it looks:
`alerts.digest_render` (Jinja2 templates, inline charts). This module delivers it.

Delivery, once per period × kind × recipient, across restarts: each recipient's email is composed
into the spool (`DATA_DIR/spool/digests/`) and recorded in the alert store (`DigestSend`, pending)
before anything is sent. Once the mail server took it, the record is `sent` and the `.eml` moves to
the archive (`DATA_DIR/digests/KIND/PERIOD/`), exactly as sent. A recipient whose record says sent
is never sent that period's digest again; a pending one is sent by the next alert check
(`resend_spooled`) or the next run of the job. A crash between the server's answer and the record
means one repeat at most, with the same Message-ID.
"""
from __future__ import annotations

import base64
import email
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from alerts import mail
from alerts.digest_content import DigestData, collect
from alerts.digest_render import charts, message, standalone_html
from alerts.period import Period, parse_day, parse_period, parse_week
from yuqing.alertstore.base import AlertStore
from yuqing.alertstore.model import DigestSend, digest_key
from yuqing.config import Config, ConfigError
from yuqing.datadir import DataDir, atomic_write
from yuqing.storage.base import Store

log = logging.getLogger("yuqing.digest")
# what yuqing ≤ 0.1 spooled, before digests had records (the new names start with their kind)
_LEGACY_SPOOL = re.compile(r"^digest-\d{4}-W\d{2}\.eml$")

__all__ = ["ArchivedDigest", "DigestData", "Period", "archived", "build_digest", "html_as_read", "parse_day",
           "parse_week", "read_archived", "resend_spooled", "send_digest", "validate", "write_preview"]


def validate(config: Config) -> None:
    """The digest section's stage check: a recipient limited to institutions names watched ones,
    and the mentions are kept long enough for the weekly digest's comparison (its week and the four
    before: a shorter `store.retention` would compare the week with weeks already pruned away)."""
    needed = timedelta(weeks=5)
    keep = config.store.retention_seconds
    if keep is not None and keep < needed.total_seconds():
        raise ConfigError(config.path, "store.retention", f"{keep / 86400:g}d is shorter than the weekly digest "
                          f"needs ({needed.days}d: its week and the four before); keep mentions at least that long")
    watched = {i.name for i in config.institutions}
    for n, reader in enumerate(config.digest.audience):
        for name in reader.institutions:
            if name not in watched:
                raise ConfigError(config.path, f"digest.recipients[{n}].institutions",
                                  f"{name!r} is not a watched institution (institutions: "
                                  f"{', '.join(sorted(watched)) or 'none configured'})")


def _collect(config: Config, store: Store, alert_store: AlertStore, kind: str, period: str | None,
             now: datetime | None, scope: Sequence[str] = ()) -> DigestData:
    return collect(config, store, alert_store, parse_period(kind, period, config, now), scope, now)


def build_digest(config: Config, store: Store, alert_store: AlertStore, period: str | None = None,
                 now: datetime | None = None, kind: str = "weekly", scope: Sequence[str] = ()) -> EmailMessage:
    """The digest email over every institution in `scope` (default all), to every recipient: what
    `--dry-run` writes. `period`: "YYYY-Www" (weekly) or "YYYY-MM-DD" (daily); default the last
    complete one before `now`."""
    data = _collect(config, store, alert_store, kind, period, now, scope)
    return message(data, config, list(config.digest.recipients), charts(data))


def write_preview(config: Config, store: Store, alert_store: AlertStore, out_dir: Path, kind: str = "weekly",
                  period: str | None = None, now: datetime | None = None) -> list[Path]:
    """`--dry-run --out DIR`: `digest-PERIOD.eml` (or `daily-PERIOD.eml`) and a standalone `.html`
    with the charts embedded, over every institution; nothing is sent or recorded."""
    data = _collect(config, store, alert_store, kind, period, now)
    images = charts(data)
    name = f"{'digest' if kind == 'weekly' else 'daily'}-{data.period.label}"
    eml = atomic_write(out_dir / f"{name}.eml",
                       message(data, config, list(config.digest.recipients), images).as_bytes(policy=SMTP))
    return [eml, atomic_write(out_dir / f"{name}.html", standalone_html(data, config, images))]


def _scopes(config: Config) -> dict[tuple[str, ...], list[str]]:
    """Readers grouped by the institutions they get, so each distinct digest is built once."""
    out: dict[tuple[str, ...], list[str]] = {}
    for reader in config.digest.audience:
        out.setdefault(tuple(sorted(reader.institutions)), []).append(reader.address)
    return out


def _deliver(config: Config, alert_store: AlertStore, record: DigestSend, now: datetime) -> str:
    """Send one spooled digest; '' when the server took it (then archived and recorded sent),
    else the error (recorded with the attempt)."""
    spooled = Path(record.file)
    try:
        msg = email.message_from_bytes(spooled.read_bytes(), policy=SMTP)
        mail.send(config.smtp, msg)  # type: ignore[arg-type]
    except (OSError, mail.MailError) as e:
        record.attempts, record.last_error = record.attempts + 1, str(e)
        alert_store.put_digest_send(record)
        return str(e)
    archive = DataDir(config.data_dir).digest_archive(record.kind, record.period, record.recipient)
    archive.parent.mkdir(parents=True, exist_ok=True)
    os.replace(spooled, archive)
    record.state, record.sent_at, record.file, record.last_error = "sent", now, str(archive), ""
    record.attempts += 1
    alert_store.put_digest_send(record)
    log.info("%s digest %s sent to %s (archived as %s)", record.kind, record.period, record.recipient, archive)
    return ""


def _spool(config: Config, alert_store: AlertStore, data: DigestData, images: dict[str, tuple[str, bytes]],
           address: str, found: DigestSend | None, now: datetime) -> DigestSend:
    """Compose one recipient's digest into the spool and record it pending."""
    period = data.period
    msg = message(data, config, [address], images)
    path = atomic_write(DataDir(config.data_dir).digest_spool(period.kind, period.label, address),
                        msg.as_bytes(policy=SMTP))
    record = DigestSend(kind=period.kind, period=period.label, recipient=address, created_at=now,
                        subject=str(msg["Subject"]), institutions=data.names, file=str(path))
    if found is not None:  # pending, but its file was lost: the new one replaces it
        record.attempts, record.created_at = found.attempts, found.created_at
        alert_store.put_digest_send(record)
    elif not alert_store.add_digest_send(record):
        return alert_store.get_digest_send(record.key) or record  # recorded by another process meanwhile
    return record


def send_digest(config: Config, store: Store, alert_store: AlertStore, period: str | None = None,
                now: datetime | None = None, kind: str = "weekly") -> list[DigestSend]:
    """Send the period's digest (`period` as for `build_digest`) to every recipient who has not had
    it (each their institutions), and return every recipient's record for the period. Raises
    MailError when some could not be sent now: they are spooled and recorded, and go out with the
    next alert check."""
    if not config.digest.audience:
        raise ConfigError(config.path, "digest.recipients",
                          "no recipients configured: list addresses under digest.recipients, "
                          "or preview with `yuqing digest --dry-run --out DIR`")
    now = now or datetime.now(config.tz)
    which = parse_period(kind, period, config, now)
    records: list[DigestSend] = []
    for scope, addresses in _scopes(config).items():
        found = {a: alert_store.get_digest_send(digest_key(kind, which.label, a)) for a in addresses}
        todo = [a for a, r in found.items() if r is None or (r.state == "pending" and not Path(r.file).exists())]
        records += [r for a, r in found.items() if r is not None and a not in todo]
        if todo:
            data = collect(config, store, alert_store, which, scope, now)
            images = charts(data)
            records += [_spool(config, alert_store, data, images, a, found[a], now) for a in todo]
    failed: list[str] = []
    for record in records:
        if record.state == "pending" and not failed:  # after one failure the server is down for the rest too
            error = _deliver(config, alert_store, record, now)
            if error:
                failed.append(f"{record.recipient}: {error}")
    left = [r.recipient for r in records if r.state == "pending"]
    if left:
        raise mail.MailError(f"{kind} digest {which.label} not sent to {', '.join(left)} ({'; '.join(failed)}); "
                             f"spooled in {DataDir(config.data_dir).spool('digests')}, to be sent again at the "
                             "next alert check")
    return records


def resend_spooled(config: Config, alert_store: AlertStore, now: datetime | None = None) -> list[DigestSend]:
    """Send the digests a dead mail server kept back (the scheduler's alert check calls this every
    few minutes); each is recorded sent only once the server took it. Returns those sent."""
    sent = []
    now = now or datetime.now(config.tz)
    for record in reversed(alert_store.digest_sends(state="pending")):  # oldest first
        if not Path(record.file).exists():
            log.error("pending %s digest %s for %s: its file %s is missing; the next run of the job composes it "
                      "again", record.kind, record.period, record.recipient, record.file)
            continue
        error = _deliver(config, alert_store, record, now)
        if error:
            log.warning("spooled digest %s for %s still not sent: %s", record.period, record.recipient, error)
            break  # the server is still down: the rest would fail the same way
        sent.append(record)
    else:  # no break: the server is up (or had nothing to take), so the older spool's turn
        _resend_legacy(config)
    return sent


def _resend_legacy(config: Config) -> None:
    """Digests an older yuqing spooled: sent as they were, to the addresses they name, then archived
    in DATA_DIR/digests/legacy/."""
    data = DataDir(config.data_dir)
    for path in sorted(data.spool("digests").glob("digest-*.eml")):
        if not _LEGACY_SPOOL.match(path.name):
            continue
        try:
            mail.send(config.smtp, email.message_from_bytes(path.read_bytes(), policy=SMTP))  # type: ignore[arg-type]
        except (OSError, mail.MailError) as e:
            log.warning("spooled digest %s still not sent: %s", path.name, e)
            return
        archive = data.digests / "legacy" / path.name
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, archive)
        log.info("spooled digest %s sent (archived as %s)", path.name, archive)


def archived(alert_store: AlertStore, limit: int = 200, institutions: Sequence[str] | None = None
             ) -> list[DigestSend]:
    """Digests sent and pending, newest first (`yuqing digest list`, the web app's archive).
    `institutions`: only those about no other institution (a reader limited to some)."""
    allowed = None if institutions is None else set(institutions)
    return [r for r in alert_store.digest_sends(limit=limit) if allowed is None or set(r.institutions) <= allowed]


@dataclass
class ArchivedDigest:
    record: DigestSend
    message: EmailMessage  # as sent (or, while pending, as it will be)
    text: str
    html: str  # with its inline images as data: URIs, to show in a page as it was read


def read_archived(alert_store: AlertStore, key: str) -> ArchivedDigest | None:
    """One digest by its key, as sent; None when there is no such record. Raises OSError when
    the record's file is gone."""
    record = alert_store.get_digest_send(key)
    if record is None:
        return None
    msg = email.message_from_bytes(Path(record.file).read_bytes(), policy=SMTP)
    assert isinstance(msg, EmailMessage)  # policy SMTP builds EmailMessage
    text_part = msg.get_body(("plain",))
    return ArchivedDigest(record, msg, text_part.get_content() if text_part is not None else "", html_as_read(msg))


def html_as_read(msg: EmailMessage) -> str:
    """The email's HTML with each `cid:` image replaced by a data: URI of its part, as a mail
    client shows it."""
    html_part = msg.get_body(("html",))
    html = html_part.get_content() if html_part is not None else ""
    for part in msg.walk():
        cid = str(part.get("Content-ID", "")).strip("<>")
        payload = part.get_payload(decode=True)
        if cid and part.get_content_type().startswith("image/") and isinstance(payload, bytes):
            data = base64.b64encode(payload).decode("ascii")
            html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return html
