"""An alert as text for each medium: plain text and HTML (email), Markdown (WeCom/DingTalk), and
lines with links (Feishu rich text). Everything states the same facts in the same order."""
from __future__ import annotations

import html
from collections.abc import Callable

from yuqing.alertstore.model import Alert, AlertMention


def _period(alert: Alert) -> str:
    return f"{alert.bucket_start:%Y-%m-%d %H:%M} – {alert.bucket_end:%H:%M}"


def facts(alert: Alert) -> list[str]:
    """The headline numbers, one per line, without markup."""
    lines = [f"级别：{alert.severity}", f"时段：{_period(alert)}",
             f"数量：{alert.count} 条（基线约 {alert.baseline:.1f} 条，异常分 {alert.score:.3f}）"]
    if alert.categories:
        lines.append("类别：" + "、".join(f"{label} {n}" for label, n in alert.categories))
    if alert.keywords:
        lines.append("关键词：" + "、".join(alert.keywords))
    if alert.sources:
        lines.append("来源：" + "、".join(f"{source} {n}" for source, n in alert.sources))
    if alert.search_url:
        lines.append(f"检索：{alert.search_url}")
    return lines


def _when(m: AlertMention) -> str:
    return m.published_at[:16].replace("T", " ")


def _link_text(text: str) -> str:
    """Brackets in a title would end a Markdown link early; use their full-width forms."""
    return text.replace("[", "［").replace("]", "］")


def _risk(m: AlertMention) -> str:
    risk = f"风险 {m.risk:.2f}" if m.risk is not None else "风险 —"
    return f"{risk}，另有 {m.reposts} 条转发" if m.reposts else risk


def text(alert: Alert) -> str:
    out = [alert.title, "", *facts(alert), "", "代表性内容："]
    for i, m in enumerate(alert.mentions, 1):
        out.append(f"{i}. {m.title or '（无标题）'} [{m.source}，{_when(m)}，{_risk(m)}]")
        out.append(f"   {m.url}")
    out += ["", f"规则：{alert.rule}；告警编号：{alert.id}"]
    return "\n".join(out)


def _fit(head: list[str], items: list[str], tail: list[str], fits: Callable[[str], bool],
         heading: str = "**代表性内容**") -> str:
    """Headline, quoted mentions, footer: mentions are dropped from the end until `fits`; the
    headline facts always stay."""
    items = list(items)
    while True:
        body = "\n".join(head + (["", heading, *items] if items else []) + ["", *tail])
        if fits(body) or not items:
            return body
        items.pop()


def markdown(alert: Alert, max_bytes: int) -> str:
    """Markdown for robot messages, cut to `max_bytes` (UTF-8)."""
    head = [f"### {alert.title}", *(f"> {line}" for line in facts(alert))]
    items = [f"{i}. [{_link_text(m.title or m.url)}]({m.url}) · {m.source} · {_when(m)} · {_risk(m)}"
             for i, m in enumerate(alert.mentions, 1)]
    return _fit(head, items, [f"规则 {alert.rule} · 编号 {alert.id}"],
                lambda body: len(body.encode("utf-8")) <= max_bytes)


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_MAX_CHARS = 3000  # a section block's text limit


def slack(alert: Alert) -> str:
    """Slack mrkdwn for a section block: escaped text, links as <url|title>."""
    e = _slack_escape
    head = [f"> {e(line)}" for line in facts(alert)]
    items = [f"{i}. <{e(m.url)}|{e(m.title or m.url).replace('|', '｜')}> · {e(m.source)} · {_when(m)} · "
             f"{_risk(m)}" for i, m in enumerate(alert.mentions, 1)]
    return _fit(head, items, [e(f"规则 {alert.rule} · 编号 {alert.id}")], lambda text: len(text) <= SLACK_MAX_CHARS,
                heading="*代表性内容*")


def html_body(alert: Alert) -> str:
    e = html.escape
    rows = "".join(
        f"<li><a href=\"{e(m.url, quote=True)}\">{e(m.title or m.url)}</a> "
        f"<small>{e(m.source)} · {e(_when(m))} · {e(_risk(m))}"
        f"{' · ' + e('、'.join(m.categories)) if m.categories else ''}</small></li>"
        for m in alert.mentions)
    fact_rows = "".join(f"<li>{e(line)}</li>" for line in facts(alert))
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"></head><body>"
            f"<h2 style=\"color:#b00020\">{e(alert.title)}</h2><ul>{fact_rows}</ul>"
            f"<h3>代表性内容</h3><ol>{rows or '<li>（无）</li>'}</ol>"
            f"<p><small>规则 {e(alert.rule)} · 告警编号 {e(alert.id)}</small></p></body></html>")
