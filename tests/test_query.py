"""The search syntax parser: what users type becomes the tree both backends translate."""
from __future__ import annotations

import pytest

from yuqing.highlight import highlight
from yuqing.query import And, Field, Not, Or, QuerySyntaxError, Term, parse, positive_terms


@pytest.mark.parametrize("text, tree", [
    ("", None),
    ("   ", None),
    ("催收", Term("催收")),
    ("招商银行 投诉", And((Term("招商银行"), Term("投诉")))),
    ("a AND b", And((Term("a"), Term("b")))),
    ('"暴力 催收"', Term("暴力 催收", phrase=True)),
    ("催收 OR 骚扰", Or((Term("催收"), Term("骚扰")))),
    ("a b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
    ("信用卡 NOT 年费", And((Term("信用卡"), Not(Term("年费"))))),
    ("信用卡 -年费", And((Term("信用卡"), Not(Term("年费"))))),
    ("(催收 OR 骚扰) 银行", And((Or((Term("催收"), Term("骚扰"))), Term("银行")))),
    ("NOT (a OR b)", Not(Or((Term("a"), Term("b"))))),
    ("source:weibo 催收", And((Field("source", "weibo"), Term("催收")))),
    ("institution:招商银行", Field("institution", "招商银行")),
    ("Polarity:negative", Field("polarity", "negative")),
    ("category:暴力催收 OR category:骚扰", Or((Field("category", "暴力催收"), Field("category", "骚扰")))),
    ('author:"张 三"', Field("author", "张 三")),
    ('author:"张 三" 催收', And((Field("author", "张 三"), Term("催收")))),
    ("-source:weibo", Not(Field("source", "weibo"))),
    ("NOT polarity:positive", Not(Field("polarity", "positive"))),
    ("risk:>0.6", Field("risk", "0.6", ">")),
    ("risk:>=0.60", Field("risk", "0.6", ">=")),
    ("risk:<1", Field("risk", "1", "<")),
    ("risk:<=0", Field("risk", "0", "<=")),
    ("risk:0.35", Field("risk", "0.35", "=")),
    ("risk:=0.35", Field("risk", "0.35", "=")),
    ("http://a.example/x", Term("http://a.example/x")),  # not a field name: a term
    ("12:30", Term("12:30")),
    ("(source:weibo OR source:tieba) -polarity:positive",
     And((Or((Field("source", "weibo"), Field("source", "tieba"))), Not(Field("polarity", "positive"))))),
])
def test_parse(text, tree):
    assert parse(text) == tree


@pytest.mark.parametrize("text, words", [
    ('"unclosed', "unclosed quote at character 1"),
    ("(a OR b", "unclosed '('"),
    ("a )", "unexpected ')' at character 3"),
    ("OR a", "needs a term on each side"),
    ("a OR", "ends where a term was expected"),
    ('""', "empty phrase"),
    ("source:", "source: at character 1 of 'source:' needs a value, e.g. source:weibo"),
    ("催收 institution:", "institution: at character 4 of '催收 institution:' needs a value"),
    ('author: "x"', "author: at character 1"),
    ("polarity:bad", "polarity:bad at character 1 of 'polarity:bad': expected one of negative, neutral, positive"),
    ("a -polarity:bad", "polarity:bad at character 4"),
    ("risk:>1.5", "risk:>1.5 at character 6 of 'risk:>1.5': expected >, >=, <, <= or nothing, then a number"),
    ("risk:high", "risk:high at character 6"),
    ("risk:>", "risk:> at character 6"),
    ("risk:nan", "expected >, >=, <, <= or nothing"),
    ("risk:-0.1", "expected >, >=, <, <= or nothing"),
    ("risk:0.123", "risk:0.123 at character 6 of 'risk:0.123': at most 2 decimals"),
])
def test_syntax_errors_say_where(text, words):
    with pytest.raises(QuerySyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_positive_terms_skip_negated():
    assert positive_terms(parse("(催收 OR 骚扰) 银行 -年费")) == ["催收", "骚扰", "银行"]


def test_field_filters_are_not_highlighted_or_ranked():
    assert positive_terms(parse("催收 source:weibo institution:招商银行 risk:>0.5")) == ["催收"]
    assert "<mark>" not in highlight("来自weibo的帖子", parse("source:weibo"))


def test_fields_count_toward_the_term_bound():
    from yuqing.query import MAX_TERMS

    with pytest.raises(QuerySyntaxError, match="one too many"):
        parse(" ".join(["source:weibo"] * (MAX_TERMS + 1)))


def test_highlight_escapes_and_marks():
    out = highlight("<b>锦程银行</b> 暴力催收 & 骚扰", parse("催收 银行"))
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out
    assert "<mark>催收</mark>" in out and "<mark>银行</mark>" in out


def test_highlight_windows_long_text_around_first_match():
    text = "无关内容" * 100 + "暴力催收" + "其他" * 100
    out = highlight(text, parse("催收"), max_chars=60)
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>催收</mark>" in out
    assert len(out.replace("<mark>", "").replace("</mark>", "")) <= 62


def test_highlight_phrase_marks_the_whole_phrase():
    assert "<mark>暴力催收</mark>" in highlight("遭到暴力催收", parse('"暴力 催收"'))


QUICK = """
import json, sys
from yuqing import segment
words = [segment.query_tokens(t) for t in json.load(sys.stdin)]
print(json.dumps({"words": words, "loaded": segment._words is not None}))
"""


def test_query_words_without_loading_the_dictionary_match_jieba():
    """A search process segments its query from the dictionary copy, without loading jieba's whole
    dictionary (the slow part of starting), and gets exactly the words the full dictionary gives."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import jieba

    from yuqing.segment import _WORD

    root = Path(__file__).resolve().parent.parent
    posts = json.loads((root / "app/demo/sample_posts.json").read_text("utf-8"))["posts"]
    terms = [p["title"] for p in posts] + [p["content"][:80] for p in posts] + [
        "招商银行暴力催收", "信用卡年费", "APP闪退", "cmb credit card", "3.15晚会", "c++ 与 c#", "１２３ｆｕｌｌ", "—"]
    out = subprocess.run([sys.executable, "-c", QUICK], input=json.dumps(terms), capture_output=True, text=True,
                         cwd=root, check=True, timeout=300)
    quick = json.loads(out.stdout)
    assert quick["loaded"] is False
    jieba_words = jieba.Tokenizer()
    full = [[w for w in jieba_words.lcut(t.lower(), HMM=False) if w.strip() and _WORD.search(w)]
            or [t.lower()] for t in terms]
    assert quick["words"] == full
