"""Keywords by jieba's TF-IDF with an IDF table built from Chinese financial text.

The IDF file (`models/idf.txt`, one `word idf` per line, jieba's format) is derived from the
training corpora by `yuqing train idf`; words missing from it get its median IDF. Institution names
never come back, whole or in part: they are cut out of the text before it is segmented (so the
segmenter cannot make a word across a name's edge, such as 华岳 + 保险 → 岳保), and any word that
contains a name or is part of one is dropped, so a digest about 招商银行 does not list 招商银行,
招商, 银行 or 招商银行信用卡中心 as its keywords.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nlp.normalize import normalize

IDF_PATH = Path(__file__).with_name("models") / "idf.txt"

# Words frequent in posts that say nothing about their subject (on top of jieba's own list).
STOP_WORDS = frozenset(
    "一个 没有 自己 我们 你们 他们 什么 怎么 为什么 因为 所以 但是 可以 这个 那个 还是 已经 就是 还有 今天 明天 "
    "昨天 现在 如果 虽然 然后 一下 一些 这些 那些 这样 那样 如何 多少 非常 比较 可能 应该 需要 进行 相关 问题 "
    "情况 表示 目前 通过 以及 记者 报道 网友 全文 展开 微博 视频 链接 转发 评论 点赞 http https www com".split())
_WORDLIKE = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9]+$")
_lock = threading.Lock()
_extractor: Any = None


def _tfidf() -> Any:
    global _extractor
    with _lock:
        if _extractor is None:
            import jieba.analyse

            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter on stderr
            extractor = jieba.analyse.TFIDF(str(IDF_PATH))
            extractor.stop_words = extractor.stop_words | STOP_WORDS
            _extractor = extractor
    return _extractor


def is_name_part(word: str, names: Iterable[str]) -> bool:
    """True when `word` contains one of the names or is a piece of one (招商 of 招商银行)."""
    return any(n and (n in word or word in n) for n in names)


def keywords(text: str, k: int, exclude: Iterable[str] = ()) -> list[str]:
    """The k words of a normalised text with the highest TF-IDF, excluded names left out."""
    names = sorted({n for n in exclude if n}, key=len, reverse=True)
    if names:
        text = re.sub("|".join(map(re.escape, names)), " ", text)
    ranked = _tfidf().extract_tags(text, topK=k + 10 + 3 * len(names))  # room for what is dropped
    return [w for w in ranked if _WORDLIKE.match(w) and not is_name_part(w, names)][:k]


def top_keywords(texts: Sequence[str], k: int = 10, exclude: Iterable[str] = ()) -> list[str]:
    """The k most characteristic words of a set of texts, taken together (for digests and alerts).
    `exclude` takes institution names and aliases."""
    return keywords(" ".join(normalize(t) for t in texts), k, exclude)
