"""The search syntax parser: what users type becomes the tree both backends translate."""
from __future__ import annotations

import pytest

from yuqing.highlight import highlight
from yuqing.query import And, Not, Or, QuerySyntaxError, Term, parse, positive_terms


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
])
def test_syntax_errors_say_where(text, words):
    with pytest.raises(QuerySyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_positive_terms_skip_negated():
    assert positive_terms(parse("(催收 OR 骚扰) 银行 -年费")) == ["催收", "骚扰", "银行"]


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
