"""Text out of the HTML fragments platforms put in their JSON and pages."""
from __future__ import annotations

import re

from w3lib.html import remove_tags, remove_tags_with_content, replace_entities

_BREAKS = re.compile(r"<\s*(br|/p|/div|/li)\s*/?\s*>", re.IGNORECASE)
# Emoticons are <img alt="[哈哈]">: keep the alt text, it carries sentiment.
_IMG_ALT = re.compile(r"<img\b[^>]*?\balt\s*=\s*[\"']?([^\"'>\s]+)[\"']?[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean_html(fragment: str | None) -> str:
    """Plain text: tags removed, entities decoded, line breaks kept, runs of spaces collapsed."""
    if not fragment:
        return ""
    text = remove_tags_with_content(fragment, which_ones=("script", "style", "noscript"))
    text = _IMG_ALT.sub(r"\1", text)
    text = _BREAKS.sub("\n", text)
    text = replace_entities(remove_tags(text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()


_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(万|亿)?\+?\s*$")
_COUNT_UNITS = {None: 1, "万": 10_000, "亿": 100_000_000}


def count(value: object) -> int:
    """A shown count ('12', '1.2万', '100万+') as a number; anything else is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    m = _COUNT.match(str(value or ""))
    return int(float(m.group(1)) * _COUNT_UNITS[m.group(2)]) if m else 0
