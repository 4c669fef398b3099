"""Hostile and careless input: queries, alert and digest rendering, `analyze` and `detect` files.

Each case of the hostile-input issue that lives here is one test; the fuzz tests at the end are
bounded by example count (never by the clock)."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from alerts import render
from alerts.channels import FeishuChannel
from alerts.digest import build_digest
from nlp import Analyzer, analyze_jsonl
from yuqing.alertstore.model import Alert, AlertMention
from yuqing.config import from_mapping
from yuqing.model import Mention, is_web_url
from yuqing.query import MAX_DEPTH, MAX_TERMS, And, Node, Not, Or, QuerySyntaxError, Term, parse

TZ = ZoneInfo("Asia/Shanghai")


def yq(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("YUQING_CONFIG", "YUQING_DEBUG")}
    return subprocess.run([sys.executable, "-m", "app.cli", "--data-dir", str(tmp), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    return lines[0]


# --- queries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("银行 " * 270, "too long (at most 500)"),  # the 800 characters of common words that ran 100 s
    ("银行 " * 100, f"at most {MAX_TERMS} terms"),
    ("(" * 2000 + "x" + ")" * 2000, "too long"),
    ("(" * 100 + "x" + ")" * 100, f"at character {MAX_DEPTH + 1} nests too deep"),
    ("NOT " * 5000 + "x", "too long"),
    ("NOT " * 50 + "x", "nests too deep"),
    ("a )", "expected a term, OR or the end"),
    ("(a OR b", "expected ')'"),
])
def test_oversized_or_broken_queries_are_refused_with_where_and_what(text: str, words: str) -> None:
    with pytest.raises(QuerySyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_queries_at_the_bounds_still_parse() -> None:
    assert parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH) == Term("x")
    assert parse("NOT " * MAX_DEPTH + "x") is not None
    assert parse(" ".join(f"词{i}" for i in range(MAX_TERMS))) == And(tuple(Term(f"词{i}") for i in range(MAX_TERMS)))


@pytest.mark.parametrize("args, words", [
    (["a )"], "character 3"),
    (["(" * 40 + "x" + ")" * 40], "nests too deep"),
    (["银行 " * 300], "too long"),
    (["x", "--limit", "-1"], "--limit: must be from 1 to 1000, got -1"),
    (["x", "--limit", "0"], "--limit: must be from 1 to 1000, got 0"),
    (["x", "--limit", "lots"], "--limit: 'lots' is not a whole number"),
])
def test_search_refuses_bad_queries_and_limits_with_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    run = yq(tmp_path, "search", *args)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and words in run.stderr.strip().splitlines()[-1]


# --- links and escaping in alerts and digests -----------------------------------------------------

HOSTILE_URLS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
                " javascript:alert(1)", "vbscript:msgbox(1)",
                "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                "http://ok.example/a\tb", "//evil.example/x", "https:evil.example"]
PHISH = "http://host/p?x=)[点此领取补偿](http://evil.example/phish)"


def _alert(*mentions: AlertMention) -> Alert:
    start = datetime(2026, 3, 2, 10, tzinfo=TZ)
    return Alert("spike", "锦程银行", "negative", start, start + timedelta(hours=1), 12, 2.0, 0.99, start,
                 list(mentions), keywords=["催收", "<b>粗体</b>"])


def _mention(url: str, title: str = "暴力催收投诉") -> AlertMention:
    return AlertMention(title, url, "weibo", "2026-03-02T10:05:00+08:00", 0.8)


def _md_links(markdown: str) -> tuple[list[str], list[str]]:
    """(link targets, raw HTML) as a CommonMark parser reads the robot message."""
    hrefs, raw = [], []
    for block in MarkdownIt("commonmark").parse(markdown):
        if block.type == "html_block":
            raw.append(block.content)
        for tok in block.children or []:
            if tok.type == "link_open":
                hrefs.append(str(tok.attrs["href"]))
            if tok.type in ("html_inline", "image"):
                raw.append(tok.content)
    return hrefs, raw


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_urls_become_links(url: str) -> None:
    assert not is_web_url(url)
    alert = _alert(_mention(url), _mention("https://ok.example/post/1"))
    body = render.html_body(alert)
    assert body.count("<a ") == 1 and 'href="https://ok.example/post/1"' in body
    assert "script:" not in body.split("<a ", 1)[1].split(">", 1)[0]
    hrefs, raw = _md_links(render.markdown(alert, 4096))
    assert hrefs == ["https://ok.example/post/1"] and not raw
    content = FeishuChannel("f", "http://127.0.0.1:1/hook", 1.0).payload(alert)["content"]["post"]["zh_cn"]["content"]
    assert [el["href"] for line in content for el in line if el["tag"] == "a"] == ["https://ok.example/post/1"]
    assert any(url in el["text"] for line in content for el in line if el["tag"] == "text")  # shown, not lost


def test_a_url_cannot_inject_a_markdown_link() -> None:
    assert is_web_url(PHISH)  # it is an http URL: escaping, not the scheme check, must stop it
    hrefs, raw = _md_links(render.markdown(_alert(_mention(PHISH)), 4096))
    assert len(hrefs) == 1 and not raw
    assert hrefs[0].startswith("http://host/p?x=") and "evil.example" not in hrefs[0].split("?")[0]
    assert unquote(hrefs[0]) == PHISH  # the same page, percent-encoded


@pytest.mark.parametrize("title", [
    "[点此领取补偿](http://evil.example/phish)", "![x](http://evil.example/pixel.png)",
    '<font color="warning">紧急</font><a href="http://evil.example">官方通知</a>', "正常标题\n### 假标题\n> 假引用",
    "`代码` \\[转义\\](http://evil.example)"])
def test_a_title_cannot_inject_markdown_or_html(title: str) -> None:
    alert = _alert(_mention("https://ok.example/1", title))
    hrefs, raw = _md_links(render.markdown(alert, 4096))
    assert hrefs == ["https://ok.example/1"] and not raw
    tokens = MarkdownIt("commonmark").parse(render.markdown(alert, 4096))
    assert sum(t.type == "heading_open" for t in tokens) == 1  # the alert's own title only
    body = render.html_body(alert)
    assert body.count("<a ") == 1 and "<font" not in body and "<b>粗体" not in body


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_digest_links_only_http_urls(url: str, tmp_path: Path) -> None:
    from yuqing.alertstore.sqlite import SqliteAlertStore
    from yuqing.storage.sqlite import SqliteStore

    config = from_mapping({"institutions": [{"name": "锦程银行"}]}, "t.yaml", tmp_path, env={})
    store, alert_store = SqliteStore(tmp_path / "s.db", tz=TZ), SqliteAlertStore(tmp_path / "s.db")
    week = datetime(2026, 3, 2, tzinfo=TZ)
    try:
        assert not store.index_many([
            Mention(u, "weibo", title=f"标题{i}", content="锦程银行暴力催收", published_at=week + timedelta(hours=i),
                    institutions=["锦程银行"], polarity="negative", risk=0.9 - i / 10)
            for i, u in enumerate([url, "https://ok.example/2"])]).failed
        page = build_digest(config, store, alert_store, "2026-W10").get_body(("html",)).get_content()
    finally:
        store.close()
        alert_store.close()
    assert page.count("<a ") == 1 and 'href="https://ok.example/2"' in page
    assert "标题0" in page and "原文链接不可用" in page  # the hostile one is kept, without a link


# --- analyze and detect files ----------------------------------------------------------------------

LINES = ['{"id": 1, "text": "服务不错"}', '{"id": 2, "title": "bad \\ud800", "text": "平台跑路了 \\udfff"}',
         '{"id": 3, "text": "银行乱收费"}']


def test_a_lone_surrogate_keeps_one_output_line_per_input_line(tmp_path: Path) -> None:
    src, out = tmp_path / "s.jsonl", tmp_path / "o.jsonl"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    run = yq(tmp_path, "analyze", "--input", str(src), "--output", str(out))
    assert run.returncode == 0, run.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in got] == [1, 2, 3] and all("error" not in r for r in got)
    for row, line in zip(got, LINES, strict=True):
        assert {k: row[k] for k in json.loads(line)} == json.loads(line)  # the surrogate too, as its escape


@pytest.mark.parametrize("same", ["path", "symlink"])
def test_analyze_refuses_to_write_over_its_input(tmp_path: Path, same: str) -> None:
    src = tmp_path / "keep.jsonl"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    before = src.read_bytes()
    out = src
    if same == "symlink":
        out = tmp_path / "link.jsonl"
        out.symlink_to(src)
    run = yq(tmp_path, "analyze", "--input", str(src), "--output", str(out))
    assert run.returncode == 2
    assert one_line(run.stderr).endswith(f"--output: {out} is the input file; write to another file")
    assert src.read_bytes() == before


def test_analyze_reports_invalid_utf8_with_its_line_and_keeps_the_rest(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(LINES[0].encode() + b'\n{"id": 9, "text": "\xe9\x93"}\n' + LINES[2].encode() + b"\n")
    run = yq(tmp_path, "analyze", "--input", str(src), "--output", str(out))
    assert run.returncode == 0
    assert "line 2: not UTF-8 text (byte 20)" in run.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in got] == [1, None, 3] and got[1]["line"] == 2


@pytest.mark.parametrize("content, line", [
    (bytes(range(255, -1, -1)) * 4, 1),  # a binary file
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1),
    (b"timestamp,value\n2026-03-01T00:00,1\n2026-03-01T01:00,\xff\xfe\n", 3),
])
def test_detect_on_a_binary_file_says_so_in_one_line(tmp_path: Path, content: bytes, line: int) -> None:
    src = tmp_path / "series.csv"
    src.write_bytes(content)
    run = yq(tmp_path, "detect", "--input", str(src), "--output", str(tmp_path / "scores.csv"))
    assert run.returncode != 0
    assert f"{src}: line {line}: not UTF-8 text" in one_line(run.stderr)


# --- fuzz -----------------------------------------------------------------------------------------

_WORDS = st.sampled_from(["银行", "催收", "投诉", "a", "b1", "招商银行", "信用卡"])


def _query_text(node: Node) -> str:
    """User syntax for a tree, every group in parentheses, so parsing gives the same tree back."""
    def inner(n: Node) -> str:
        return _query_text(n) if isinstance(n, Term) or isinstance(n, Not) else f"({_query_text(n)})"
    if isinstance(node, Term):
        return f'"{node.text}"' if node.phrase else node.text
    if isinstance(node, Not):
        return f"NOT {inner(node.item)}"
    return (" OR " if isinstance(node, Or) else " ").join(inner(i) for i in node.items)


_TREES = st.recursive(
    st.builds(Term, _WORDS) | st.builds(lambda w1, w2: Term(f"{w1} {w2}", phrase=True), _WORDS, _WORDS),
    lambda kids: (st.builds(Not, kids) | st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs)))
                  | st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs)))),
    max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(_TREES)
def test_fuzz_every_good_query_parses_back_to_its_tree(tree: Node) -> None:
    assert parse(_query_text(tree)) == tree


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["(", ")", "NOT", "OR", "AND", '"', "-", "-x", "银行", "a", " ", "\t"]) | st.text(),
                max_size=60).map("".join))
def test_fuzz_any_query_text_parses_or_fails_with_a_syntax_error(text: str) -> None:
    try:
        parse(text)
    except QuerySyntaxError as e:
        assert "\n" not in str(e).replace(repr(text), "") and str(e)


@cache
def _analyzer() -> Analyzer:
    return Analyzer()


_ALL_CHARS = st.characters(codec=None, exclude_categories=())  # lone surrogates included
_GOOD = st.fixed_dictionaries({"text": st.text(_ALL_CHARS, max_size=80)},
                              optional={"id": st.integers() | st.text(max_size=5),
                                        "title": st.text(_ALL_CHARS, max_size=20),
                                        "entities": st.lists(st.text(min_size=1, max_size=6), max_size=3)})
# A good line as people write it (UTF-8, lone surrogates as escapes, since UTF-8 cannot hold them) or
# all-ASCII with escapes.
_LINE = (_GOOD.map(lambda row: ("good", re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}",
                                               json.dumps(row, ensure_ascii=False)).encode()))
         | _GOOD.map(lambda row: ("good", json.dumps(row).encode())))
_BAD = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b).map(lambda b: ("bad", b))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE | _BAD, min_size=1, max_size=12))
def test_fuzz_analyze_gives_one_line_per_line_and_keeps_every_good_one(lines: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_bytes(b"\n".join(raw for _, raw in lines) + b"\n")
        errors = io.StringIO()
        assert analyze_jsonl(src, out, _analyzer(), errors=errors) == len(lines)
        got = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]
    assert len(got) == len(lines)
    for (kind, raw), row in zip(lines, got, strict=True):
        assert row["polarity"] in ("negative", "neutral", "positive")
        if kind == "good":
            original = json.loads(raw)
            assert "error" not in row and {k: row[k] for k in original} == original
    assert all(line.startswith("line ") for line in errors.getvalue().splitlines())
