"""Negation scope: which characters of a text a negation word covers.

`不是骗子` is not fraud and `并未逾期` is not overdue. A cue covers itself and what follows it up to
the next punctuation mark or `SCOPE_CHARS` characters, whichever comes first (the cue itself is
inside so that an n-gram such as `不是骗` cannot carry 骗 past the negation). The sentiment features and
the category rules both read the same scope, so they agree on what is negated.
"""
from __future__ import annotations

import re

SCOPE_CHARS = 6

# Longer cues first so `并未` wins over `未`. A bare `不`/`无`/`非` is a cue only when it does not
# begin a word that is itself negative (不良, 不法, 无法, 非法 ...): those words are the complaint.
_CUES = re.compile(
    r"(?:并不是|并不|不是|不存在|不属于|不涉及|不会|并未|从未|未曾|尚未|并非|绝非|没有|没|未|否认|辟谣|澄清|"
    r"不(?![良法满好当实足少利公力佳妥对便])|无(?![法良力奈理故])|非(?![法常要])|别)"
)
_STOP = re.compile(r"[,.!?;:，。！？；：、\s\n()（）\"“”]")


def negated_mask(text: str) -> bytearray:
    """One byte per character: 1 where the character is a negation cue or lies in its scope."""
    mask = bytearray(len(text))
    for cue in _CUES.finditer(text):
        end = min(len(text), cue.end() + SCOPE_CHARS)
        stop = _STOP.search(text, cue.end(), end)
        if stop:
            end = stop.start()
        mask[cue.start():end] = b"\x01" * (end - cue.start())
    return mask
