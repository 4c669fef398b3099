"""An alert as text for each medium: plain text and HTML (email), Markdown (WeCom/DingTalk), and
lines with links (Feishu rich text). Everything states the same facts in the same order.

Titles, sources, keywords and URLs are crawled text written by strangers: each medium escapes them
its own way, and only http(s) URLs (`yuqing.model.is_web_url`) ever become links; any other URL
is shown as text.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable

from yuqing.alertstore.model import Alert, AlertMention
from yuqing.model import is_web_url

# Characters that end or open Markdown structure, as full-width look-alikes in crawled text: a
# title cannot close the link it sits in, open a new one or an image, or pass raw HTML (WeCom
# renders <font>). Line breaks would start a heading or a quote.
_MD_TEXT = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "`": "｀",
                          "\\": "＼", "\n": " ", "\r": " ", "\t": " "})
# In a link target these would end it early (`)`) or start a new construct: percent-encoded, the
# URL still leads to the same page.
_MD_URL = re.compile(r"[()\[\]<>\"'`\\]")


def _period(alert: Alert) -> str:
    return f"{alert.bucket_start:%Y-%m-%d %H:%M} – {alert.bucket_end:%H:%M}"


def facts(alert: Alert) -> list[str]:
    """The headline numbers, one per line, without markup."""
    if alert.kind == "silence":
        lines = [f"级别：{alert.severity}", f"来源：{alert.source}",
                 f"无新内容：自 {alert.bucket_start:%Y-%m-%d %H:%M} 起（通常间隔约 {alert.baseline:.1f} 小时）"]
    elif alert.kind == "share":
        lines = [f"级别：{alert.severity}", f"时段：{_period(alert)}",
                 f"负面：{alert.count}/{alert.total} 条（通常占比约 {alert.usual_share:.0%}，"
                 f"即约 {alert.baseline:.1f} 条；异常分 {alert.score:.3f}）"]
    else:
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


def markdown_text(text: str) -> str:
    """Crawled text safe to put anywhere in robot Markdown (see `_MD_TEXT`)."""
    return text.translate(_MD_TEXT)


def markdown_link(text: str, url: str) -> str:
    """`[text](url)` for an http(s) URL; otherwise the text and the URL as plain text."""
    if not is_web_url(url):
        return f"{markdown_text(text)} {markdown_text(url)}" if text != url else markdown_text(url)
    return f"[{markdown_text(text)}]({_MD_URL.sub(lambda m: f'%{ord(m.group()):02X}', url)})"


def html_link(text: str, url: str) -> str:
    """`<a href>` for an http(s) URL; otherwise the text, with the URL shown after it."""
    if not is_web_url(url):
        return html.escape(text) + (f" <small>{html.escape(url)}</small>" if text != url else "")
    return f"<a href=\"{html.escape(url, quote=True)}\">{html.escape(text)}</a>"


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
    head = [f"### {markdown_text(alert.title)}", *(f"> {markdown_text(line)}" for line in facts(alert))]
    items = [f"{i}. {markdown_link(m.title or m.url, m.url)} · {markdown_text(m.source)} · {_when(m)} · "
             f"{_risk(m)}" for i, m in enumerate(alert.mentions, 1)]
    return _fit(head, items, [f"规则 {markdown_text(alert.rule)} · 编号 {alert.id}"],
                lambda body: len(body.encode("utf-8")) <= max_bytes)


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(text: str, url: str) -> str:
    """`<url|text>` for an http(s) URL; otherwise the text and the URL as plain text."""
    label = _slack_escape(text).replace("|", "｜")
    if not is_web_url(url):
        return f"{label} {_slack_escape(url)}" if text != url else label
    return f"<{_slack_escape(url).replace('|', '%7C')}|{label}>"


SLACK_MAX_CHARS = 3000  # a section block's text limit


def slack(alert: Alert) -> str:
    """Slack mrkdwn for a section block: escaped text, links as <url|title>."""
    e = _slack_escape
    head = [f"> {e(line)}" for line in facts(alert)]
    items = [f"{i}. {_slack_link(m.title or m.url, m.url)} · {e(m.source)} · {_when(m)} · "
             f"{_risk(m)}" for i, m in enumerate(alert.mentions, 1)]
    return _fit(head, items, [e(f"规则 {alert.rule} · 编号 {alert.id}")], lambda text: len(text) <= SLACK_MAX_CHARS,
                heading="*代表性内容*")


def html_body(alert: Alert) -> str:
    e = html.escape
    rows = "".join(
        f"<li>{html_link(m.title or m.url, m.url)} "
        f"<small>{e(m.source)} · {e(_when(m))} · {e(_risk(m))}"
        f"{' · ' + e('、'.join(m.categories)) if m.categories else ''}</small></li>"
        for m in alert.mentions)
    fact_rows = "".join(f"<li>{e(line)}</li>" for line in facts(alert))
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"></head><body>"
            f"<h2 style=\"color:#b00020\">{e(alert.title)}</h2><ul>{fact_rows}</ul>"
            f"<h3>代表性内容</h3><ol>{rows or '<li>（无）</li>'}</ol>"
            f"<p><small>规则 {e(alert.rule)} · 告警编号 {e(alert.id)}</small></p></body></html>")
