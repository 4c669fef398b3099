"""The search words: rjieba, which cuts them, gives exactly what jieba's own Python code gives (stock
dictionary, HMM off), so stores and Elasticsearch indices written with either keep matching."""
from __future__ import annotations

import logging
import random
from pathlib import Path

import jieba
import pytest

from yuqing import segment

ROOT = Path(__file__).resolve().parent.parent
# What crawled text holds besides Chinese: latin words, digits (full-width too), the characters jieba
# keeps inside a word (+#&._%-), other punctuation, every kind of space, emoji, letters that lower-case
# to two characters, a zero-width space.
ODD = list("abcXYZ0189 \t\r\n\u3000\u00a0.+#&%-_,，。！？@：:/\\'\"()（）【】《》") + [
    *"０１２ＡＢｃ😀éİßΣ\u200b", "\r\n", "c++", "3.15"]


def _texts() -> list[str]:
    """Every line of the repository's saved pages and sample data, and seeded mixtures of their
    characters with the odd ones above."""
    lines: list[str] = []
    for path in sorted((ROOT / "tests/fixtures").rglob("*")) + [ROOT / "app/demo/sample_posts.json"]:
        if path.is_file():
            lines += path.read_text("utf-8", "replace").splitlines()
    lines = [line for line in dict.fromkeys(lines) if line.strip()]
    rng = random.Random(9)
    chinese = [c for c in dict.fromkeys("".join(lines)) if "\u4e00" <= c <= "\u9fff"]
    mixed = []
    for _ in range(3000):
        line = rng.choice(lines)
        start = rng.randrange(len(line))
        piece = line[start:start + rng.randrange(1, 80)]
        mixed.append("".join(c if rng.random() > 0.15 else rng.choice(ODD) for c in piece))
        mixed.append("".join(rng.choice(ODD if rng.random() < 0.4 else chinese) for _ in range(rng.randrange(1, 30))))
    return lines + mixed


@pytest.fixture(scope="module")
def reference() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def test_the_sample_is_varied():
    texts = _texts()
    assert len(texts) > 5000
    assert sum("\u4e00" <= c <= "\u9fff" for c in "".join(texts)) > 50_000
    assert all(any(o in t for t in texts) for o in ODD)


def test_index_words_are_jiebas(reference):
    words = segment._ready()
    differ = [t for t in _texts()
              if words.cut_for_search(t.lower(), hmm=False) != list(reference.cut_for_search(t.lower(), HMM=False))]
    assert differ == []


def test_query_words_are_jiebas(reference):
    words = segment._ready()
    differ = [t for t in _texts() if words.cut(t.lower(), hmm=False) != reference.lcut(t.lower(), HMM=False)]
    assert differ == []


def test_index_tokens_drop_what_has_no_word_character():
    assert segment.index_tokens("招商银行，APP闪退！！ 3.15") == "招商 商银 银行 招商银行 app 闪 退 3 15"
    assert segment.index_tokens("") == "" and segment.index_tokens("，。 ") == ""
