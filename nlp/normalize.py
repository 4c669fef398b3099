"""Text clean-up before analysis: social-media markup out, one script and width, bounded length.

Why each step matters for the models: topic tags, `@user` names and `//@user:` repost markers are
markup around the words (the words of a tag and of a quoted repost are kept), URLs and the `?` runs
left where emoji were lost carry no sentiment, and full-width/traditional forms would otherwise be
separate features that the training data rarely shows.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

# A long article's opening carries its subject; beyond this, analysis cost grows with little gain.
DEFAULT_MAX_CHARS = 600

_URL = re.compile(r"(?:https?://|www\.)[\w\-./?%&=+#~:;,@!$*'()]+|\b[\w-]+\.(?:cn|com|net)/[\w\-./?%&=#]*",
                  re.ASCII)
_TOPIC = re.compile(r"#([^#\n]{1,40}?)(?:\[超话\])?#")
_SUPER_TOPIC = re.compile(r"\[超话\]")
_REPOST = re.compile(r"//\s*@[^:：\s]{1,30}[:：]")
_MENTION = re.compile(r"@[\w\-\u4e00-\u9fff]{1,30}")
_LOST_EMOJI = re.compile(r"[?？]{2,}|\ufffd+|\[[\u4e00-\u9fffA-Za-z]{1,6}\]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SENTENCE_END = re.compile(r"[。!?;…]")  # after NFKC, full-width ！？； are ASCII
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")  # line breaks too: a post's layout says nothing


@lru_cache(maxsize=1)
def _t2s() -> Any:
    # Imported on first traditional text only: the converter's tables take time to build.
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional_only() -> frozenset[str]:
    """Characters that exist only in traditional script (about 4,000), from OpenCC's own tables.
    Converting costs about 1 ms per post, so only texts containing one of these are converted."""
    import opencc

    folder = Path(opencc.__file__).with_name("dictionary")
    to_simplified, to_traditional = _table(folder / "TSCharacters.txt"), _table(folder / "STCharacters.txt")
    simplified = set(to_traditional) | {s for targets in to_simplified.values() for s in targets}
    return frozenset(ch for ch in to_simplified if len(ch) == 1 and ch not in simplified)


def _table(path: Path) -> dict[str, list[str]]:
    """An OpenCC table: each line a key, a tab, and its space-separated conversions."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, targets = line.partition("\t")
        if targets:
            out[key] = targets.split()
    return out


def normalize(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Clean one text for analysis. Idempotent; never raises on odd input."""
    if not text:
        return ""
    # NFKC: full-width letters, digits and punctuation → half-width. Markup rarely triples a text's
    # length, so a long text is cut early and never scanned whole.
    text = unicodedata.normalize("NFKC", text[:max_chars * 4])
    # A lone surrogate (a JSON "\\ud800") is no character; the word segmenter cannot even encode it.
    text = _SURROGATE.sub("\ufffd", text)
    text = _URL.sub(" ", text)
    # A repost chain's `//@user:` markers name people, not institutions; the quoted words stay
    # because a bare repost often has no words of its own.
    text = _REPOST.sub(" | ", text)
    text = _TOPIC.sub(r"\1 ", text)
    text = _SUPER_TOPIC.sub("", text)
    text = _MENTION.sub(" ", text)
    text = _LOST_EMOJI.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    text = _truncate(text, max_chars)
    if not _traditional_only().isdisjoint(text):
        text = _t2s().convert(text)
    return text


@lru_cache(maxsize=8192)
def normalize_name(name: str) -> str:
    """`normalize` for a name (an entity's), which recurs from text to text: remembered."""
    return normalize(name)


def _truncate(text: str, max_chars: int) -> str:
    """At most max_chars, ending after a full sentence when one ends in the last fifth."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(head, max_chars * 4 // 5)]
    return head[:ends[-1]] if ends else head
