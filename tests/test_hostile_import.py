"""Hostile input on the one ingest path (issue 8): what `yuqing import` (and so every way in) does
with lone surrogates, bytes that are not UTF-8, scripting URLs, impossible dates, terminal escapes,
a 10 MB line and a full disk. Real SQLite files in temporary data dirs, the real analyser, the real
`yuqing` process where the user's view (exit status, one line per problem) is what is tested."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.services import Services
from tests.conftest import SHANGHAI
from tests.test_cli import yq
from yuqing.importer import MAX_LINE_BYTES, ImportReport, import_jsonl
from yuqing.ingest import MAX_CONTENT_CHARS
from yuqing.query import parse
from yuqing.storage import SearchRequest

GOOD = {"title": "锦程银行信用卡投诉", "content": "客户反映遭到暴力催收。", "published_at": "2026-11-30T10:00:00+08:00",
        "source": "x"}


def row(n: int, **fields: Any) -> dict[str, Any]:
    return {**GOOD, "url": f"http://a.example/{n}", **fields}


def jsonl(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines))
    return path


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One process's services (the analyser loads once); each test imports its own URLs."""
    with Services.load(None, tmp_path_factory.mktemp("data"), env={}) as s:
        yield s


def run_import(services: Services, path: Path) -> ImportReport:
    return import_jsonl(path, services.ingest, SHANGHAI)


def stored_urls(services: Services, prefix: str) -> dict[str, Any]:
    hits = services.store.search(SearchRequest(query=parse(""), limit=1000)).hits
    return {h.mention.url: h.mention for h in hits if h.mention.url.startswith(prefix)}


def test_a_lone_surrogate_is_stored_cleaned_and_the_batch_goes_on(services, tmp_path):
    # The JSON escape, as the printf writes it: json.loads gives a str holding U+D800.
    lines = [dumps(row(1, url="http://sur.example/1")),
             dumps(row(2, url="http://sur.example/2", title="bad \\ud800 锦程银行")).replace("\\\\ud800", "\\ud800"),
             *(dumps(row(n, url=f"http://sur.example/{n}")) for n in range(3, 600))]  # past one batch of 500
    assert "\\ud800" in lines[1]
    report = run_import(services, jsonl(tmp_path / "s.jsonl", *lines))
    assert (report.lines, report.stored, report.bad_lines) == (599, 599, [])
    kept = stored_urls(services, "http://sur.example/")
    assert kept["http://sur.example/2"].title == "bad \ufffd 锦程银行"


def test_a_lone_surrogate_in_a_url_is_rejected_with_its_line(services, tmp_path):
    bad = dumps(row(1, url="http://sur-url.example/x")).replace("/x", "/\\udc00")
    report = run_import(services, jsonl(tmp_path / "u.jsonl", bad, dumps(row(2, url="http://sur-url.example/ok"))))
    assert report.stored == 1
    assert [n for n, _ in report.bad_lines] == [1] and "is not an http(s) URL" in report.bad_lines[0][1]


def test_invalid_utf8_is_reported_with_its_line_not_replaced(services, tmp_path):
    latin1 = dumps(row(2, url="http://utf8.example/2", title="caf\u00e9 锦程银行")).encode("utf-8").replace(
        "é".encode(), b"\xe9")
    report = run_import(services, jsonl(tmp_path / "b.jsonl", dumps(row(1, url="http://utf8.example/1")), latin1,
                                        dumps(row(3, url="http://utf8.example/3"))))
    assert report.stored == 2 and set(stored_urls(services, "http://utf8.example/")) == {
        "http://utf8.example/1", "http://utf8.example/3"}
    ((line, reason),) = report.bad_lines
    assert line == 2 and reason.startswith("not UTF-8 text (byte ")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                                 "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>",
                                 " http://lead.example/space", "http://tab.example/\tx", "http://", "file:///etc/passwd"])
def test_urls_other_than_http_are_rejected_with_the_line_number(services, tmp_path, url):
    report = run_import(services, jsonl(tmp_path / "j.jsonl", dumps(row(1, url="http://fine.example/1")),
                                        dumps(row(2, url=url))))
    ((line, reason),) = report.bad_lines
    assert line == 2 and "is not an http(s) URL" in reason
    assert not any(u == url for u in stored_urls(services, ""))


@pytest.mark.parametrize("when, why", [("9999-12-31T23:59:59-12:00", "in the future"),
                                       ("0001-01-01T00:00:00", "is before 1900"),
                                       ("1899-12-31T23:59:59+00:00", "is before 1900")])
def test_dates_out_of_range_are_rejected_and_search_and_status_still_answer(tmp_path, when, why):
    data = tmp_path / "data"
    src = jsonl(tmp_path / "d.jsonl", dumps(row(1)), dumps(row(2, published_at=when)))
    proc = yq(data, "import", "--input", str(src), check=False)
    assert f"{src}: line 2: publication date" in proc.stderr and why in proc.stderr, proc.stderr
    assert "1 mention(s) stored" in proc.stdout
    found = json.loads(yq(data, "search", "--to", "9999-12-31", "--json").stdout)
    assert [h["url"] for h in found["hits"]] == ["http://a.example/1"]
    assert json.loads(yq(data, "search", "--from", "0001-01-01", "--json").stdout)["total"] == 1
    assert json.loads(yq(data, "status", "--json").stdout)["store"]["mentions"] == 1


def test_control_characters_and_terminal_escapes_are_stripped_on_the_way_in(services, tmp_path):
    hostile = row(1, url="http://ansi.example/1", title="\x1b[2J\x1b]0;pwned\x07锦程银行\x1b[31m 催收\x00\x9b1m",
                  content="第一行\r\n第二行\x08\x7f\t完", author="\x1b[1mroot", source="x\x1b[0m")
    report = run_import(services, jsonl(tmp_path / "a.jsonl", dumps(hostile)))
    assert report.stored == 1
    m = stored_urls(services, "http://ansi.example/")["http://ansi.example/1"]
    assert (m.title, m.content, m.author, m.source) == ("锦程银行 催收", "第一行\n第二行\t完", "root", "x")


def test_terminal_escapes_never_reach_the_search_output(tmp_path):
    data = tmp_path / "data"
    src = jsonl(tmp_path / "a.jsonl", dumps(row(1, title="\x1b]2;owned\x07\x1b[2J锦程银行催收")))
    yq(data, "import", "--input", str(src))
    out = yq(data, "search", "锦程银行").stdout
    assert "\x1b" not in out and "\x07" not in out and "锦程银行催收" in out


def test_a_10mb_line_is_skipped_unread_and_the_lines_around_it_are_stored(services, tmp_path):
    huge = dumps(row(2, url="http://big.example/2", content="催" * (10 * 1024 * 1024 // 3)))
    assert len(huge.encode()) > 10 * 1024 * 1024
    report = run_import(services, jsonl(tmp_path / "big.jsonl", dumps(row(1, url="http://big.example/1")), huge,
                                        dumps(row(3, url="http://big.example/3"))))
    assert report.stored == 2 and report.lines == 3
    ((line, reason),) = report.bad_lines
    assert line == 2 and reason == f"line longer than {MAX_LINE_BYTES:,} bytes (not read)"


def test_a_long_text_within_the_line_limit_is_cut_to_the_maximum_kept_and_counted(services, tmp_path):
    long = dumps(row(1, url="http://long.example/1", content="锦程银行催收。" * (MAX_CONTENT_CHARS // 7 + 10)))
    assert len(long.encode()) < MAX_LINE_BYTES
    report = run_import(services, jsonl(tmp_path / "long.jsonl", long))
    assert (report.stored, report.ingest.truncated) == (1, 1)
    assert len(stored_urls(services, "http://long.example/")["http://long.example/1"].content) == MAX_CONTENT_CHARS
    assert "1 cut to the maximum length kept" in report.summary("long.jsonl")


def test_json_nested_thousands_deep_is_one_bad_line(services, tmp_path):
    deep = '{"url": ' + "[" * 100_000 + "]" * 100_000 + "}"
    report = run_import(services, jsonl(tmp_path / "deep.jsonl", deep, dumps(row(2, url="http://deep.example/2"))))
    assert report.stored == 1 and [n for n, _ in report.bad_lines] == [1]


def test_a_directory_as_the_input_is_one_clear_line(tmp_path):
    proc = yq(tmp_path / "data", "import", "--input", str(tmp_path), check=False)
    assert proc.returncode == 1 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_a_full_disk_during_import_says_how_far_it_got(tmp_path):
    """A real full disk: the data dir is a 5 MB tmpfs, mounted in a user and mount namespace of
    its own (`unshare`, no root needed), so the store, the spool and the reject log all run out. 5 MB
    leaves room for the first import batches (a new store's 8 KB pages and its write-ahead log took
    more than 3 MB before the first batch's commit) and fills well before the 3,000 rows end."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode:
        pytest.skip("this kernel does not allow user namespaces (unshare), so no tmpfs can be mounted")
    rows = [dumps(row(n, url=f"http://full.example/{n}", content="锦程银行催收投诉。" * 40)) for n in range(3000)]
    src = jsonl(tmp_path / "full.jsonl", *rows)
    data, found = tmp_path / "data", tmp_path / "found.json"
    data.mkdir()
    yuqing = f"{sys.executable} -m app.cli --data-dir {data}"
    script = (f"mount -t tmpfs -o size=5m tmpfs {data} && {yuqing} import --input {src}; echo \"exit $?\"; "
              f"{yuqing} search --limit 1000 --json > {found}")
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "YUQING_CONFIG"})
    assert "exit 1" in proc.stdout and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    summary = next(line for line in proc.stdout.splitlines() if line.startswith(f"{src}:"))
    assert "STOPPED: No space left on device at line " in summary, proc.stdout + proc.stderr
    stopped_at = int(summary.split("STOPPED: No space left on device at line ")[1].split(":")[0])
    stored = int(summary.split(" mention(s) stored")[0].rsplit(" ", 1)[1])
    assert 0 < stored == json.loads(found.read_text())["total"] and stored < stopped_at <= 3000
