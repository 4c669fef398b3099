"""The digest as an email: the Jinja2 templates (`alerts/templates/digest.html`, `digest.txt`,
autoescaped for HTML), one stacked polarity chart per institution as an inline PNG (`cid:`), and
the subject with the period and its key figure."""
from __future__ import annotations

import base64
from email.message import EmailMessage
from functools import lru_cache

import jinja2

from alerts import chart, evidence, mail
from alerts.digest_content import DigestData
from yuqing.config import Config


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} 小时"


def _overdue(missed: list[str]) -> str:
    """`yuqing.cases.overdue`'s deadlines in words."""
    return "、".join({"accept": "未按时受理", "answer": "未按时答复"}.get(m, m) for m in missed)


def _change(now: float, before: float) -> str:
    delta = now - before
    return "持平" if abs(delta) < 0.05 else f"{delta:+.0f}" if float(delta).is_integer() else f"{delta:+.1f}"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("alerts", "templates"),
                             autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(num=_num, pct=_pct, change=_change, hours=_hours, overdue=_overdue)
    return env


def _render(name: str, d: DigestData, config: Config, charts: dict[str, str]) -> str:
    env = _environment().overlay()
    env.filters["at"] = lambda t: f"{t.astimezone(config.tz):%m-%d %H:%M}"
    env.filters["when"] = lambda m: f"{(m.published_at or m.fetched_at).astimezone(config.tz):%m-%d %H:%M}"
    labels = evidence.category_labels(config)
    env.filters["labels"] = lambda codes: [labels.get(c, c) for c in codes]
    return env.get_template(name).render(d=d, charts=charts, buckets=d.period.bucket_labels(),
                                          web_url=config.web.base_url, limit=evidence.FETCH_LIMIT)


def render_text(d: DigestData, config: Config) -> str:
    return _render("digest.txt", d, config, {})


def render_html(d: DigestData, config: Config, charts: dict[str, str]) -> str:
    """`charts`: institution → the image's src (`cid:...` in the email, a data: URI in a page)."""
    return _render("digest.html", d, config, charts)


def charts(d: DigestData) -> dict[str, tuple[str, bytes]]:
    """Institution → (Content-ID, PNG) of its stacked polarity chart."""
    per = "每日" if d.period.kind == "weekly" else "每小时"
    english = "Mentions per day" if d.period.kind == "weekly" else "Mentions per hour"
    return {i.name: (f"chart-{n}", chart.polarity_chart(d.period.bucket_labels(), i.series, f"{i.name} {per}提及",
                                                        english))
            for n, i in enumerate(d.institutions, 1)}


def subject(d: DigestData) -> str:
    """The period and the key figure: negative mentions against the period before, and the
    institutions at high risk."""
    _, negative = d.totals()
    before = sum(i.previous.negative for i in d.institutions)
    high = [i.name for i in d.institutions if i.level == "高"]
    return (f"{d.title} {d.period.label}：负面 {negative} 条（较{d.period.previous_noun} {_change(negative, before)}）"
            + (f"，{'、'.join(high)}高风险" if high else ""))


def message(d: DigestData, config: Config, to: list[str], images: dict[str, tuple[str, bytes]]) -> EmailMessage:
    html = render_html(d, config, {name: f"cid:{cid}" for name, (cid, _) in images.items()})
    return mail.compose("digest", subject(d), config.smtp.sender, to, render_text(d, config), html,
                        images=dict(images.values()))


def standalone_html(d: DigestData, config: Config, images: dict[str, tuple[str, bytes]]) -> str:
    """The HTML with its charts embedded as data: URIs, to open in a browser."""
    return render_html(d, config, {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                                   for name, (_, png) in images.items()})


__all__ = ["charts", "message", "render_html", "render_text", "standalone_html", "subject"]
