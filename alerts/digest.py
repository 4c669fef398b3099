"""The weekly digest email (`yuqing digest`, and the scheduler's weekly job).

Which week: an ISO week "YYYY-Www" in the configured timezone, Monday 00:00 to the next Monday.
Default: the last complete week, so a digest sent on Monday morning covers Monday–Sunday just
ended and every figure is final (a week-to-date digest would compare a partial week with a full
one). Content: per institution, mentions and negative share against the week before; a chart of
daily negative mentions; the top complaint categories and keywords; the riskiest mentions with
links; the alerts raised that week. HTML with the chart inline, and the same as plain text.
"""
from __future__ import annotations

import base64
import email
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from alerts import chart, evidence, mail, render
from yuqing.alertstore.base import AlertStore
from yuqing.alertstore.model import AlertQuery, AlertRecord
from yuqing.config import Config, ConfigError
from yuqing.datadir import DataDir, atomic_write
from yuqing.model import Mention
from yuqing.storage.base import Store

log = logging.getLogger("yuqing.digest")

CHART_CID = "daily-negative"
TOP_MENTIONS = 10
MAX_CHART_SERIES = 8
_CSS = "table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 8px}"
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    label: str  # "2026-W10"
    start: datetime  # Monday 00:00 in the configured timezone
    end: datetime  # the next Monday 00:00 (exclusive)

    @property
    def days(self) -> list[date]:
        return [self.start.date() + timedelta(days=i) for i in range(7)]

    def previous(self) -> Week:
        assert self.start.tzinfo is not None
        return week_of(self.start.date() - timedelta(days=7), self.start.tzinfo)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def week_of(day: date, tz: tzinfo) -> Week:
    """The ISO week containing `day`."""
    year, number, _ = day.isocalendar()
    monday = date.fromisocalendar(year, number, 1)
    return Week(f"{year}-W{number:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz))


def parse_week(text: str | None, config: Config, now: datetime | None = None) -> Week:
    """"YYYY-Www" → that ISO week; None → the last complete week before `now`."""
    if text is None:
        today = (now or datetime.now(config.tz)).astimezone(config.tz).date()
        return week_of(today - timedelta(days=7), config.tz)
    m = _WEEK.match(text.strip())
    try:
        if not m:
            raise ValueError
        return week_of(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1), config.tz)
    except ValueError:
        raise ConfigError("command line", "--week", f"{text!r} is not an ISO week like 2026-W09") from None


@dataclass
class Row:
    """One institution's week against the one before."""

    name: str
    total: int
    negative: int
    prev_total: int
    prev_negative: int

    @staticmethod
    def _share(neg: int, total: int) -> float | None:
        return neg / total if total else None

    @property
    def share(self) -> float | None:
        return self._share(self.negative, self.total)

    @property
    def prev_share(self) -> float | None:
        return self._share(self.prev_negative, self.prev_total)


@dataclass
class DigestData:
    title: str
    week: Week
    rows: list[Row]
    daily_negative: dict[str, list[int]]
    categories: list[tuple[str, int]]
    keywords: list[str]
    risky: list[Mention]
    alerts: list[AlertRecord] = field(default_factory=list)


def _count(store: Store, week: Week, institution: str | None, polarity: str | None = None) -> list[int]:
    """Mentions per day of the week (days are 24 h buckets from Monday 00:00)."""
    return [n for _, n in store.count_by_interval(week.start, week.end, 86400, institution=institution,
                                                  polarity=polarity)]


def collect(config: Config, store: Store, alert_store: AlertStore, week: Week) -> DigestData:
    names: list[str | None] = [i.name for i in config.institutions] or [None]
    prev = week.previous()
    rows, daily = [], {}
    for name in names:
        negative = _count(store, week, name, "negative")
        rows.append(Row(name or "全部", sum(_count(store, week, name)), sum(negative),
                        sum(_count(store, prev, name)), sum(_count(store, prev, name, "negative"))))
        daily[name or "全部"] = negative
    busiest = sorted(daily, key=lambda n: -sum(daily[n]))[:MAX_CHART_SERIES]
    negatives = evidence.fetch(store, week.start, week.end, polarity="negative")
    labels = evidence.category_labels(config)
    return DigestData(
        title=config.digest.title, week=week, rows=rows,
        daily_negative={n: daily[n] for n in busiest},
        categories=evidence.category_counts(negatives, labels, n=8),
        keywords=evidence.keywords(negatives, config.institutions, k=15),
        risky=evidence.riskiest(negatives, TOP_MENTIONS),
        alerts=sorted(alert_store.list_alerts(AlertQuery(since=week.start, until=week.end, limit=1000)),
                      key=lambda r: r.started_at))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return "—"
    return f"{(now - before) * 100:+.1f} 个百分点"


def _delta(now: int, before: int) -> str:
    return f"{now - before:+d}" if before or now else "0"


def _period(week: Week) -> str:
    return f"{week.start:%Y-%m-%d} 至 {week.end - timedelta(days=1):%Y-%m-%d}"


def _when(m: Mention, config: Config) -> str:
    return f"{(m.published_at or m.fetched_at).astimezone(config.tz):%m-%d %H:%M}"


def render_text(d: DigestData, config: Config) -> str:
    out = [f"{d.title} {d.week.label}（{_period(d.week)}）", "", "一、总体情况（与上周相比）"]
    for r in d.rows:
        out.append(f"- {r.name}：提及 {r.total}（{_delta(r.total, r.prev_total)}），负面 {r.negative}"
                   f"（{_delta(r.negative, r.prev_negative)}），负面占比 {_pct(r.share)}"
                   f"（上周 {_pct(r.prev_share)}，{_change(r.share, r.prev_share)}）")
    out += ["", "二、每日负面提及"]
    out += [f"- {name}：" + " ".join(f"{day:%m-%d}:{n}" for day, n in zip(d.week.days, counts, strict=True))
            for name, counts in d.daily_negative.items()]
    out += ["", "三、主要投诉类别", *([f"- {label}：{n}" for label, n in d.categories] or ["- 无"])]
    out += ["", "四、热点关键词", "、".join(d.keywords) or "无"]
    out += ["", "五、高风险内容"]
    for i, m in enumerate(d.risky, 1):
        risk = f"{m.risk:.2f}" if m.risk is not None else "—"
        out.append(f"{i}. {m.title or m.text[:40]}（{'、'.join(m.institutions) or '—'}，{m.source}，"
                   f"{_when(m, config)}，风险 {risk}）")
        out.append(f"   {m.url}")
    if not d.risky:
        out.append("- 本周无负面内容")
    out += ["", "六、本周告警"]
    out += [f"- {a.summary()}" for a in d.alerts] or ["- 本周无告警"]
    return "\n".join(out) + "\n"


def render_html(d: DigestData, config: Config, chart_src: str) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r.name)}</td><td>{r.total}</td><td>{_delta(r.total, r.prev_total)}</td><td>{r.negative}</td>"
        f"<td>{_pct(r.share)}</td><td>{_pct(r.prev_share)}</td><td>{_change(r.share, r.prev_share)}</td></tr>"
        for r in d.rows)
    legend = "".join(f"<li>{e(label)} = {e(name)}</li>" for label, name in
                     zip(chart.series_labels(list(d.daily_negative)), d.daily_negative, strict=True) if label != name)
    cats = "".join(f"<li>{e(label)}：{n}</li>" for label, n in d.categories) or "<li>无</li>"
    risky = "".join(
        f"<li>{render.html_link(m.title or m.text[:40], m.url)} <small>{e('、'.join(m.institutions))}"
        f" · {e(m.source)} · {_when(m, config)} · 风险 {m.risk if m.risk is None else f'{m.risk:.2f}'}</small></li>"
        for m in d.risky) or "<li>本周无负面内容</li>"
    alerts = "".join(f"<li>{e(a.summary())}</li>" for a in d.alerts) or "<li>本周无告警</li>"
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{e(d.title)} {d.week.label}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{e(d.title)} {d.week.label}</h1><p>{_period(d.week)}</p>"
        f"<h2>一、总体情况（与上周相比）</h2><table><tr><th>机构</th><th>提及</th><th>环比</th><th>负面</th>"
        f"<th>负面占比</th><th>上周占比</th><th>变化</th></tr>{rows}</table>"
        f"<h2>二、每日负面提及</h2><img src=\"{chart_src}\" alt=\"每日负面提及\" width=\"720\">"
        f"{'<ul>' + legend + '</ul>' if legend else ''}"
        f"<h2>三、主要投诉类别</h2><ul>{cats}</ul>"
        f"<h2>四、热点关键词</h2><p>{e('、'.join(d.keywords)) or '无'}</p>"
        f"<h2>五、高风险内容</h2><ol>{risky}</ol><h2>六、本周告警</h2><ul>{alerts}</ul></body></html>")


def _render(config: Config, store: Store, alert_store: AlertStore, week: str | None,
            now: datetime | None) -> tuple[DigestData, bytes]:
    data = collect(config, store, alert_store, parse_week(week, config, now))
    return data, chart.daily_chart(data.week.days, data.daily_negative, "每日负面提及")


def _message(config: Config, data: DigestData, png: bytes) -> EmailMessage:
    subject = f"{data.title} {data.week.label}（{_period(data.week)}）"
    return mail.compose("digest", subject, config.smtp.sender, config.digest.recipients,
                        render_text(data, config), render_html(data, config, f"cid:{CHART_CID}"),
                        images={CHART_CID: png})


def build_digest(config: Config, store: Store, alert_store: AlertStore, week: str | None = None,
                 now: datetime | None = None) -> EmailMessage:
    """The digest email for `week` ("YYYY-Www"; default the last complete week before `now`)."""
    return _message(config, *_render(config, store, alert_store, week, now))


def send_digest(config: Config, store: Store, alert_store: AlertStore, week: str | None = None,
                dry_run_dir: Path | None = None,
                now: datetime | None = None) -> list[Path]:
    """Send the digest to `digest.recipients`, keeping a copy in DATA_DIR/digests/; returns that copy.
    With `dry_run_dir`, write `digest-WEEK.eml` and a standalone `digest-WEEK.html` (chart embedded)
    there instead and send nothing."""
    if dry_run_dir is None and not config.digest.recipients:
        raise ConfigError(config.path, "digest.recipients",
                          "no recipients configured: list addresses under digest.recipients, "
                          "or preview with `yuqing digest --dry-run --out DIR`")
    data, png = _render(config, store, alert_store, week, now)
    message = _message(config, data, png)
    name = f"digest-{data.week.label}"
    out_dir = dry_run_dir if dry_run_dir is not None else DataDir(config.data_dir).digests
    eml = atomic_write(out_dir / f"{name}.eml", message.as_bytes(policy=SMTP))
    if dry_run_dir is not None:
        page = out_dir / f"{name}.html"
        inline = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"
        atomic_write(page, render_html(data, config, inline))
        return [eml, page]
    try:
        mail.send(config.smtp, message)
    except mail.MailError as e:
        spooled = atomic_write(_spool_dir(config) / eml.name, eml.read_bytes())
        raise mail.MailError(f"digest {data.week.label} not sent ({e}); spooled as {spooled}, "
                             "to be sent again at the next alert check") from e
    return [eml]


def _spool_dir(config: Config) -> Path:
    return DataDir(config.data_dir).spool("digests")


def resend_spooled(config: Config) -> list[Path]:
    """Send the digests a dead mail server kept back (the scheduler's alert check calls this every
    few minutes); each one leaves the spool only once the server took it. Returns those sent."""
    sent = []
    for path in sorted(_spool_dir(config).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=SMTP)
        try:
            mail.send(config.smtp, message)  # type: ignore[arg-type]
        except mail.MailError as e:
            log.warning("spooled digest %s still not sent: %s", path.name, e)
            break  # the server is still down: the rest would fail the same way
        path.unlink()
        sent.append(path)
    return sent
