"""The command-line contracts (`import`, `search --json`, `init`, errors), run as a user runs them:
the real `yuqing` process on a real data dir."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

from tests.conftest import SHANGHAI, es_url
from yuqing.config import ElasticsearchConfig, load
from yuqing.storage.elasticsearch import ElasticsearchStore


def yq(data_dir, *args, check=True):
    env = dict(os.environ, YUQING_DATA_DIR=str(data_dir))
    env.pop("YUQING_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"yuqing {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def write_jsonl(path, rows, extra_lines=()):
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


ROWS = [{"url": f"https://example.org/p/{i}", "title": f"招商银行信用卡投诉 {i}",
         "content": "客户反映遭到暴力催收，要求银行道歉。" if i % 2 else "网点服务态度很好。",
         "published_at": f"2026-02-{1 + i % 28:02d}T10:00:00+08:00", "source": "weibo", "author": f"user{i}"}
        for i in range(30)]


def use_elasticsearch(data_dir, url):
    """Point the data dir's config at the real node; `yuqing index setup` is all a user runs first."""
    prefix = f"test-cli-{uuid.uuid4().hex[:8]}"
    (data_dir / "yuqing.yaml").write_text(
        f"store:\n  backend: elasticsearch\n  elasticsearch: {{url: '{url}', index_prefix: {prefix}}}\n",
        encoding="utf-8")
    first = yq(data_dir, "index", "setup").stdout
    assert f"created index template {prefix}-mentions-v1" in first
    again = yq(data_dir, "index", "setup").stdout
    assert "created" not in again and "unchanged" in again  # idempotent, and says so
    return ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix=prefix), tz=SHANGHAI)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def imported(request, tmp_path_factory):
    """The same command-line contract on both backends, chosen by config alone."""
    data = tmp_path_factory.mktemp("data")
    es = use_elasticsearch(data, es_url()) if request.param == "elasticsearch" else None
    src = write_jsonl(data.parent / "m.jsonl", ROWS, ['this line is not json', '{"url": "https://x.org/1"}'])
    proc = yq(data, "import", "--input", str(src))
    yield data, proc
    if es is not None:
        es.drop()
        es.close()


def search(data, *args):
    return json.loads(yq(data, "search", *args, "--json").stdout)



def test_analyze_loads_no_store_nor_pure_python_jieba(tmp_path):
    # `yuqing analyze` reads one file and writes another: importing the store's modules (or jieba,
    # whose dictionary takes half a second) would only slow its start-up.
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "客户反映遭到暴力催收"}])
    code = ("import sys\nfrom app.cli import main\n"
            f"assert main(['analyze', '--input', {str(src)!r}, '--output', {str(tmp_path / 'out.jsonl')!r}]) == 0\n"
            "print(sorted(m for m in sys.modules if m.startswith(('yuqing.storage', 'sqlite3', 'jieba'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "YUQING_CONFIG"})
    assert out.stdout.split("\n")[0] == "[]" and (tmp_path / "out.jsonl").read_text(encoding="utf-8").count("\n") == 1

def test_import_reports_counts_and_bad_lines(imported):
    _, proc = imported
    assert "32 line(s) read, 30 mention(s) stored (30 new, 0 updated)" in proc.stdout
    assert "line 31: not JSON" in proc.stderr
    assert "line 32: missing published_at, source" in proc.stderr


def test_import_replay_does_not_duplicate(imported, tmp_path):
    data, _ = imported
    src = write_jsonl(tmp_path / "again.jsonl", ROWS[:5])
    assert "(0 new, 5 updated)" in yq(data, "import", "--input", str(src)).stdout
    assert search(data, "--limit", "1")["total"] == 30


def test_search_json_shape(imported):
    data, _ = imported
    res = search(data, "催收", "--limit", "50")
    assert res["total"] == 15 and len(res["hits"]) == 15
    for hit in res["hits"]:
        assert {"id", "url", "title", "source", "published_at", "polarity", "sentiment", "institutions",
                "highlight"} <= set(hit)
        assert hit["published_at"].endswith("+08:00")
        assert "<mark>催收</mark>" in hit["highlight"]
        assert 0 <= hit["sentiment"] <= 1


def test_empty_query_lists_newest_first(imported):
    data, _ = imported
    res = search(data, "--limit", "5")
    assert res["total"] == 30 and len(res["hits"]) == 5
    dates = [h["published_at"] for h in res["hits"]]
    assert dates == sorted(dates, reverse=True)


def test_dates_are_inclusive_days_in_configured_timezone(imported):
    data, _ = imported
    res = search(data, "银行", "--from", "2026-02-03", "--to", "2026-02-05", "--limit", "50")
    days = sorted({h["published_at"][:10] for h in res["hits"]})
    assert days == ["2026-02-03", "2026-02-04", "2026-02-05"]
    assert res["total"] == 3  # i = 2, 3, 4 (i = 28, 29 wrap to days 1 and 2)


def test_polarity_filter_agrees_with_analysis(imported):
    data, _ = imported
    negative = search(data, "--polarity", "negative", "--limit", "50")
    assert negative["total"] > 0
    assert all(h["polarity"] == "negative" for h in negative["hits"])


def test_human_output(imported):
    data, _ = imported
    out = yq(data, "search", "催收", "--limit", "2").stdout
    assert out.startswith("15 mention(s)") and "【催收】" in out


def test_cursor_pages_walk_the_whole_result(imported):
    """`--cursor` continues the same search; the pages together are the whole result, in order."""
    data, _ = imported
    whole = search(data, "银行", "--sort", "time", "--limit", "50")
    assert "next_cursor" not in whole  # the last page's JSON is exactly the contract's
    seen, cursor = [], None
    while True:
        page = search(data, "银行", "--sort", "time", "--limit", "4", *(["--cursor", cursor] if cursor else []))
        seen += [h["id"] for h in page["hits"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [h["id"] for h in whole["hits"]] and len(seen) == whole["total"] > 4


def test_facets_and_risk_sort(imported):
    data, _ = imported
    res = search(data, "催收", "--facets", "--interval", "1d", "--sort", "risk", "--limit", "50")
    risks = [h["risk"] for h in res["hits"]]
    assert risks == sorted(risks, reverse=True)
    facets = res["facets"]
    assert sum(b["total"] for b in facets["timeline"]) == res["total"] == 15
    assert sum(f["count"] for f in facets["sources"]) == 15
    assert all(b["start"].endswith("+08:00") for b in facets["timeline"])
    assert {"institutions", "categories", "groups"} <= set(facets)


@pytest.mark.parametrize("args, words", [
    (["search", '"unclosed'], "unclosed quote"),
    (["search", "--from", "yesterday"], "--from: 'yesterday' is not a date"),
    (["search", "polarity:bad"], "QUERY: polarity:bad at character 1"),
    (["search", "--cursor", "nonsense"], "--cursor: 'nonsense' is not a search cursor"),
    (["search", "--facets", "--interval", "5s"], "--interval: '5s' is not an interval"),
    (["import", "--input", "/nonexistent.jsonl"], "no such file"),
])
def test_errors_are_one_clear_line(tmp_path, args, words):
    proc = yq(tmp_path, *args, check=False)
    assert proc.returncode in (1, 2)
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_names_file_and_key(tmp_path):
    (tmp_path / "yuqing.yaml").write_text("store: {backend: mongo}\n", encoding="utf-8")
    proc = yq(tmp_path, "search", check=False)
    assert proc.returncode == 2
    assert f"{tmp_path / 'yuqing.yaml'}: store.backend: 'mongo' is not one of" in proc.stderr


def test_init_writes_a_valid_commented_config(tmp_path):
    target = tmp_path / "conf" / "yuqing.yaml"
    yq(tmp_path, "init", str(target))
    text = target.read_text(encoding="utf-8")
    assert text.count("#") > 20  # commented for a newcomer
    config = load(target, tmp_path, env={})
    assert config.institutions and config.sources
    assert {s.type for s in config.sources} >= {"rss", "weibo", "heimao"}
    assert yaml.safe_load(text)["store"]["backend"] == "sqlite"
    # every stage accepts it: sources, alert rules and channels are validated at start-up
    assert json.loads(yq(tmp_path, "--config", str(target), "search", "--json").stdout)["total"] == 0
    assert yq(tmp_path, "init", str(target), check=False).returncode == 2  # no silent overwrite


@pytest.mark.parametrize("section, key", [("nlp: {colour: 1}", "nlp.colour"), ("web: {colour: red}", "web.colour")])
@pytest.mark.parametrize("command", [["search", "催收"], ["check"], ["status"]])
def test_every_command_validates_every_section_at_start_up(tmp_path, section, key, command):
    (tmp_path / "yuqing.yaml").write_text(section + "\n", encoding="utf-8")
    proc = yq(tmp_path, *command, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"yuqing: {tmp_path / 'yuqing.yaml'}: {key}: unknown key")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "yuqing.db").exists()  # it failed before any work


def test_status_reads_the_health_records_the_crawl_writes(tmp_path):
    from yuqing.datadir import DataDir, HealthRecord

    (tmp_path / "yuqing.yaml").write_text(yaml.safe_dump({"sources": [
        {"name": n, "type": "rss", "params": {"url": f"https://e.org/{n}.xml"}} for n in ("a", "b", "c")]}),
        encoding="utf-8")
    data = DataDir(tmp_path)
    data.write_health(HealthRecord("a", "rss", state="degraded", state_reason="HTTP 500 from x", state_url="https://e.org/x",
                                   stored=3, errors=["HTTP 500 from x"]))
    proc = yq(tmp_path, "status", "--json")
    sources = json.loads(proc.stdout)["sources"]
    assert (sources["a"]["state"], sources["a"]["stored"], sources["b"]["state"]) == ("degraded", 3, "never crawled")
    data.write_health(HealthRecord("c", "rss", state="login-required", state_reason="login page",
                                   state_url="https://e.org/login"))
    proc = yq(tmp_path, "status", check=False)
    assert proc.returncode == 1  # a source that delivers nothing
    assert "c [rss]: login-required, last success never — login page at https://e.org/login" in proc.stdout
