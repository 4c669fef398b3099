"""Corrections from people (`yuqing.corrections`), on both backends: SQLite files and the real
Elasticsearch node (YUQING_TEST_ES_URL), through the one storage seam. The analyser is the real,
shipped model."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest

from nlp import Analyzer
from tests.conftest import SHANGHAI
from yuqing.corrections import CorrectionError, correct, list_corrections
from yuqing.model import Institution, Mention
from yuqing.storage.base import SearchRequest

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
BANKS = [Institution("锦程银行", ("锦程",)), Institution("华岳银行")]


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(BANKS)


def analysed(analyzer, i: int, text: str, hours: float = 0) -> Mention:
    m = Mention(url=f"https://bbs.example.org/t/{i}", source="tieba", title="", content=text,
                published_at=T0 + timedelta(hours=hours))
    analyzer.analyze_mentions([m])
    return m


@pytest.fixture
def thanks(store, analyzer):
    """A thank-you that names a bank, stored as the model scored it."""
    m = analysed(analyzer, 1, "感谢锦程银行柜员帮我拦下了一笔诈骗转账，太负责了")
    assert store.index_many([m]).failed == []
    return m


def test_a_correction_shows_the_persons_value_and_keeps_the_models(store, thanks):
    model_polarity = thanks.polarity
    wanted = "negative" if model_polarity != "negative" else "positive"
    at = datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI)
    got = correct(store, thanks.id, polarity=wanted, categories=["service"], by="王敏", note="读者来信", at=at)
    stored = store.get(thanks.id)
    assert stored.to_dict() == got.to_dict()
    assert (stored.polarity, stored.categories) == (wanted, ["service"])
    assert stored.model_analysis["polarity"] == model_polarity
    assert stored.model_analysis["categories"] == thanks.categories
    [record] = stored.corrections
    assert (record["by"], record["note"], record["at"]) == ("王敏", "读者来信", at.isoformat())
    assert record["before"]["polarity"] == model_polarity and record["after"]["polarity"] == wanted
    # search filters see the corrected value on both backends
    hits = store.search(SearchRequest(query=None, polarity=wanted)).hits
    assert [h.mention.id for h in hits] == [thanks.id]


def test_not_negative_blames_nobody_and_has_no_risk(store, analyzer):
    m = analysed(analyzer, 2, "锦程银行暴力催收，天天打电话骚扰我的家人，简直是流氓")
    assert (m.polarity, m.negative_entities) == ("negative", ["锦程银行"]) and m.risk > 0
    store.index_many([m])
    got = correct(store, m.id, polarity="neutral", by="li")
    assert (got.polarity, got.negative_entities, got.risk) == ("neutral", [], 0.0)
    assert got.model_analysis == {"polarity": "negative", "negative_entities": ["锦程银行"], "risk": m.risk}


def test_corrections_are_listed_oldest_first_with_before_and_after(store, thanks, analyzer):
    other = analysed(analyzer, 3, "华岳银行的理财经理说保本，结果亏了三成", hours=1)
    store.index_many([other])
    first = datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)
    # categories the model does not give, so each correction changes something whatever it found
    assert "fees" not in other.categories
    correct(store, other.id, categories=["fees"], by="a", at=first + timedelta(hours=2))
    correct(store, thanks.id, polarity="positive" if thanks.polarity != "positive" else "neutral", by="b", at=first)
    correct(store, other.id, categories=["fees", "fraud"], by="c", at=first + timedelta(hours=3))
    listed = list_corrections(store)
    assert [(c.mention_id, c.by) for c in listed] == [(thanks.id, "b"), (other.id, "a"), (other.id, "c")]
    assert listed[2].before == {"categories": ["fees"]}
    assert listed[2].after == {"categories": ["fees", "fraud"]}
    assert [c.by for c in list_corrections(store, since=first + timedelta(hours=2))] == ["a", "c"]
    # the model's own value is the one before the first correction, not the one before the second
    assert store.get(other.id).model_analysis["categories"] == other.categories


def test_a_recrawl_keeps_the_correction_and_records_the_models_fresh_value(store, thanks, analyzer):
    correct(store, thanks.id, polarity="neutral" if thanks.polarity != "neutral" else "positive", by="w")
    human = store.get(thanks.id).polarity
    again = analysed(analyzer, 1, thanks.content + "！")  # the same post crawled again, edited
    fresh = again.polarity
    assert again.corrections == [] and fresh != human
    report = store.index_many([again])
    assert (report.created, report.updated) == (0, 1)
    stored = store.get(thanks.id)
    assert stored.polarity == human
    assert stored.model_analysis["polarity"] == fresh
    assert stored.content.endswith("！") and len(stored.corrections) == 1


def test_reanalysing_a_corrected_mention_keeps_the_persons_fields(store, thanks, analyzer):
    correct(store, thanks.id, categories=["fraud"], by="w")
    stored = store.get(thanks.id)
    before = copy.deepcopy(stored)
    analyzer.analyze_mentions([stored])
    assert stored.categories == ["fraud"] and stored.corrections == before.corrections
    assert stored.model_version and stored.model_version == thanks.model_version
    store.index_many([stored])
    assert store.get(thanks.id).categories == ["fraud"]


def test_scan_reads_every_mention_and_filters(store, analyzer):
    mentions = [analysed(analyzer, 10 + i, f"锦程银行第{i}号公告", hours=i) for i in range(7)]
    store.index_many(mentions)

    def scanned(**filters):
        return sorted(m.id for batch in store.scan(SearchRequest(query=None, **filters), 3) for m in batch)

    assert scanned() == sorted(m.id for m in mentions)
    assert scanned(since=T0 + timedelta(hours=5)) == sorted(m.id for m in mentions[5:])
    assert scanned(corrected_only=True) == []
    correct(store, mentions[3].id, polarity="negative" if mentions[3].polarity != "negative" else "neutral", by="x")
    assert scanned(corrected_only=True) == [mentions[3].id]


@pytest.mark.parametrize("kwargs, message", [
    ({"polarity": "angry"}, "polarity must be one of"),
    ({}, "nothing to correct"),
    ({"categories": "fraud"}, "must be a list"),
    ({"negative_entities": ["招商银行"]}, "not among the mention's institutions"),
    ({"institutions": [""]}, "non-empty"),
])
def test_bad_corrections_are_refused_and_change_nothing(store, thanks, kwargs, message):
    with pytest.raises(CorrectionError, match=message):
        correct(store, thanks.id, by="w", **kwargs)
    assert store.get(thanks.id).to_dict() == thanks.to_dict()


def test_unknown_mention_no_author_and_no_change_are_refused(store, thanks):
    with pytest.raises(CorrectionError, match="no stored mention"):
        correct(store, "nope", polarity="neutral", by="w")
    with pytest.raises(CorrectionError, match="who made it"):
        correct(store, thanks.id, polarity="neutral", by=" ")
    with pytest.raises(CorrectionError, match="nothing changed"):
        correct(store, thanks.id, polarity=thanks.polarity, by="w")


# -- the commands, run as a user runs them, on both backends chosen by config alone ---------------

@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def cli_data(request, tmp_path):
    from tests.conftest import es_url
    from tests.test_cli import ROWS, use_elasticsearch, write_jsonl, yq

    data = tmp_path / "data"
    data.mkdir()
    es = use_elasticsearch(data, es_url()) if request.param == "elasticsearch" else None
    yq(data, "import", "--input", str(write_jsonl(tmp_path / "m.jsonl", ROWS[:6])))
    yield data
    if es is not None:
        es.drop()
        es.close()


def test_label_corrections_and_reanalyze_commands(cli_data):
    from tests.test_cli import search, yq

    complaint = next(h for h in search(cli_data, "催收")["hits"] if h["polarity"] == "negative")

    def neutral() -> dict[str, list[str]]:
        return {h["id"]: h["categories"] for h in search(cli_data, "--polarity", "neutral")["hits"]}

    before = neutral()
    out = yq(cli_data, "label", complaint["id"], "--polarity", "neutral", "--category", "service",
             "--by", "王敏", "--note", "是转述").stdout
    assert f"corrected mention {complaint['id']} (by 王敏)" in out
    assert "polarity: negative -> neutral" in out
    assert neutral() == {**before, complaint["id"]: ["service"]}
    listed = json.loads(yq(cli_data, "corrections", "--json").stdout)["corrections"]
    assert [(c["mention_id"], c["by"], c["note"], c["after"]["polarity"]) for c in listed] == [
        (complaint["id"], "王敏", "是转述", "neutral")]
    out = yq(cli_data, "reanalyze").stdout
    assert "reanalysed 6 mention(s) with model " in out
    assert neutral() == {**before, complaint["id"]: ["service"]}
    assert "0 correction(s)" in yq(cli_data, "corrections", "--since", "2999-01-01").stdout


@pytest.mark.parametrize("args, words", [
    (["label", "nope", "--polarity", "neutral", "--by", "w"], "no stored mention has the id 'nope'"),
    (["label", "{id}", "--category", "weather", "--by", "w"], "'weather' is not a configured category"),
    (["label", "{id}", "--by", "w"], "nothing to correct"),
    (["corrections", "--since", "yesterday"], "'yesterday' is not a date"),
    (["reanalyze", "--since", "2026-13-01"], "is not a date"),
])
def test_bad_label_is_one_line_and_exit_2(cli_data, args, words):
    from tests.test_cli import search, yq

    some = search(cli_data)["hits"][0]["id"]
    proc = yq(cli_data, *[a.replace("{id}", some) for a in args], check=False)
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_train_with_corrections_learns_from_them(tmp_path):
    """`yuqing train sentiment --with-corrections` reads the corrected mentions from the store and
    trains on them: a phrase found only in corrected posts gets weight towards the people's label."""
    from nlp.linear import LinearModel
    from tests.test_cli import search, write_jsonl, yq
    from tests.test_nlp import _training_data

    data_dir = _training_data()
    if data_dir is None:
        pytest.skip("training data not found: set YUQING_TRAIN_DATA or put it at ../shared/data")
    store_dir = tmp_path / "data"
    store_dir.mkdir()
    rows = [{"url": f"https://bbs.example.org/q/{i}", "title": "", "content": f"貔貅貘第{i}次开门营业，网点在三楼",
             "published_at": "2026-11-02T10:00:00+08:00", "source": "tieba"} for i in range(12)]
    yq(store_dir, "import", "--input", str(write_jsonl(tmp_path / "q.jsonl", rows)))
    labelled = 0
    for hit in search(store_dir, "貔貅貘", "--limit", "50")["hits"]:
        if hit["polarity"] != "negative":
            yq(store_dir, "label", hit["id"], "--polarity", "negative", "--by", "tester")
            labelled += 1
    assert labelled >= 6
    out = tmp_path / "model"
    proc = yq(store_dir, "train", "sentiment", "--data", str(data_dir), "--limit", "300", "--folds", "2",
              "--out", str(out), "--with-corrections")
    assert f"{labelled} corrected mention(s) join the training (0 naming institutions, {labelled} not)" in proc.stdout
    assert '"held_back_without_corrections"' in proc.stdout
    model = LinearModel.load(out / "document.bin")
    assert model.meta["data"][-1]["file"] == "corrections (yuqing label)"
    assert model.meta["data"][-1]["rows"] == labelled
    negative, neutral, positive = model.scores(["貔貅貘"])[:3]
    bias_negative, bias_neutral, bias_positive = model.bias[:3]
    assert negative - bias_negative > max(neutral - bias_neutral, positive - bias_positive)
