"""Word segmentation for search, shared by every storage backend.

Both backends index `index_tokens(text)` (space-separated words) and look up `query_tokens(term)`,
so a query means the same on SQLite FTS5 and on Elasticsearch's whitespace analyser.

A private jieba tokenizer with only the stock dictionary and HMM off is used on purpose: adding
institution names to the analysis dictionary (nlp/) must not change how already-indexed text was
split, or old documents would stop matching new queries. Search mode (`cut_for_search`) also emits
the dictionary words inside longer words, so `银行` finds `招商银行` and `信用` finds `信用卡`.
"""
from __future__ import annotations

import logging
import re
import threading

import jieba

_tokenizer = jieba.Tokenizer()
_init_lock = threading.Lock()
_WORD = re.compile(r"\w", re.UNICODE)
# How far apart (in index tokens) the words of one multi-word term may stand: search mode inserts
# up to a few sub-words between two neighbouring words of the original text.
NEAR_DISTANCE_PER_WORD = 3


def _ready() -> jieba.Tokenizer:
    if not _tokenizer.initialized:
        with _init_lock:
            if not _tokenizer.initialized:
                jieba.setLogLevel(logging.WARNING)
                _tokenizer.initialize()
    return _tokenizer


def index_tokens(text: str) -> str:
    """The text as space-separated lower-case search tokens (punctuation and spaces dropped)."""
    if not text:
        return ""
    words = _ready().cut_for_search(text.lower(), HMM=False)
    return " ".join(w for w in words if _WORD.search(w))


def query_tokens(term: str) -> list[str]:
    """The words of one query term, in order; the term itself when it has no word characters."""
    words = [w for w in _ready().lcut(term.lower(), HMM=False) if _WORD.search(w) and w.strip()]
    return words or [term.lower()]


def near_distance(tokens: list[str]) -> int:
    """The largest gap allowed between the words of a multi-word term or phrase."""
    return NEAR_DISTANCE_PER_WORD * max(len(tokens) - 1, 1)
