"""Search highlights, computed the same way for every backend: HTML-escaped text with each match
of a positive query term wrapped in <mark>, trimmed to a window around the first match."""
from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable

from yuqing.query import Query, positive_terms
from yuqing.segment import query_tokens

DEFAULT_MAX_CHARS = 160


def _pattern(query: Query) -> re.Pattern[str] | None:
    needles: set[str] = set()
    for term in positive_terms(query):
        needles.add(term)
        needles.add("".join(term.split()))  # a phrase's words stand together in Chinese text
        needles.update(t for t in query_tokens(term) if len(t) > 1 or not t.isascii())
    needles = {n for n in needles if n.strip()}
    if not needles:
        return None
    alternatives = sorted(needles, key=len, reverse=True)  # longest first: 招商银行 before 银行
    return re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)


def highlighter(query: Query, max_chars: int = DEFAULT_MAX_CHARS) -> Callable[[str], str]:
    """`highlight` of texts for one query: its terms segmented once (most of the cost), not once per hit."""
    return functools.partial(_marked, pattern=_pattern(query), max_chars=max_chars)


def highlight(text: str, query: Query, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """`text` as safe HTML: a window of about `max_chars` characters around the first match, with
    every match in <mark>; the start of the text when nothing matches."""
    return highlighter(query, max_chars)(text)


def _marked(text: str, pattern: re.Pattern[str] | None, max_chars: int) -> str:
    text = " ".join(text.split())
    matches = list(pattern.finditer(text)) if pattern else []
    start = 0
    if matches and len(text) > max_chars:
        start = max(0, min(matches[0].start() - max_chars // 4, len(text) - max_chars))
    end = min(len(text), start + max_chars)
    out = ["…" if start > 0 else ""]
    pos = start
    for m in matches:
        if m.start() < pos or m.end() > end:
            continue
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:end]))
    out.append("…" if end < len(text) else "")
    return "".join(out)
