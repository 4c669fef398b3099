"""The complaint probe sets (tests/fixtures/complaint_probes.jsonl, set A, complaint_probes_c.jsonl,
set C, complaint_probes_b.jsonl, set B, complaint_probes_d.jsonl, set D, and sets E and F; see
nlp/probes.py) through the shipped analyzer: the per-category figures the model card reports, and the behaviours a
reader notices at once (praise, denials and the bank where the money was kept are not complaints)."""
from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nlp import CATEGORY_LABELS, Analysis
from nlp.categories import LEARNT_FILE, CategoryRules, _learnt
from nlp.features import denies, reported_denial
from nlp.linear import ModelFileError
from nlp.negation import negated_mask
from nlp.normalize import normalize
from nlp.probes import Probe, analyse, figures, load_probes, mean_f1
from nlp.probeset import PROBES, PROBES_B, PROBES_C, PROBES_D, PROBES_E, PROBES_F
from nlp.train import main as train_main
from yuqing.config import ConfigError

TARGET = 0.85  # the target for per-category precision and recall


@dataclass(frozen=True)
class Levels:
    """What the shipped analyzer reaches on a set, less some slack (figures in the model card), so
    a change that loses ground fails."""
    precision: float  # in every category
    recall: float  # in every category
    mean_recall: float
    at_target: int  # categories whose precision (and, separately, recall) reach TARGET
    wrong_share: float  # of the praise, denial, news probes judged negative, and of sarcasm not
    missed_share: float  # of the complaints not judged negative
    blamed: int  # `kept` probes whose bank is blamed


# Sets A and C are what the rules were tuned on; B (written apart) and D (in registers the others
# use little) were not, until the fifth round fitted the learnt category model on A–D and looked at
# their denials and thanks. Set E, written before the fifth round's changes, was the one nothing was
# tuned on until the sixth round tuned the rules on A–E and fitted the learnt model on them; set F,
# written before the sixth round's changes, is the one nothing is tuned on now, hence lowest.
# Denials stay the model's weak spot (the news model reads a rumour denied as the rumour).
LEVELS = {"A": Levels(0.9, 0.85, 0.95, 9, 0.2, 0.03, 1), "B": Levels(0.8, 0.6, 0.82, 6, 0.2, 0.1, 1),
          "C": Levels(0.8, 0.8, 0.9, 9, 0.35, 0.06, 1), "D": Levels(0.85, 0.8, 0.92, 9, 0.3, 0.04, 1),
          "E": Levels(0.8, 0.75, 0.88, 8, 0.35, 0.05, 1), "F": Levels(0.6, 0.55, 0.75, 2, 0.4, 0.15, 7)}
PATHS = {"A": PROBES, "B": PROBES_B, "C": PROBES_C, "D": PROBES_D, "E": PROBES_E, "F": PROBES_F}
SETS = list(LEVELS)


@pytest.fixture(scope="module", params=SETS)
def probe_set(request: pytest.FixtureRequest) -> tuple[Levels, list[Probe], list[Analysis]]:
    probes = load_probes(PATHS[request.param])
    return LEVELS[request.param], probes, analyse(probes)


def _of(kind: str, probes: list[Probe], results: list[Analysis]) -> list[tuple[Probe, Analysis]]:
    return [(p, r) for p, r in zip(probes, results, strict=True) if p.kind == kind]


@pytest.mark.parametrize("name, size, per_category", [("A", 200, 20), ("B", 150, 12), ("C", 200, 15),
                                                         ("D", 200, 15), ("E", 200, 12), ("F", 200, 12)])
def test_probe_set_covers_every_category_and_phenomenon(name: str, size: int, per_category: int) -> None:
    probes = load_probes(PATHS[name])
    assert len(probes) >= size and len({p.text for p in probes}) == len(probes)
    assert {c for p in probes for c in p.categories} == set(CATEGORY_LABELS)
    assert {"negation", "thanks", "sarcasm", "kept", "neutral"} <= {p.kind for p in probes}
    assert all(sum(c in p.categories for p in probes) >= per_category for c in CATEGORY_LABELS)


def test_the_model_cards_probe_table_is_what_the_probe_files_give() -> None:
    # Every precision, recall and support of the model card's probe table, and its mean F1 row, as
    # the shipped analyzer gives them on the probe files now: a change to either shows as a failure.
    section = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8").split(
        "**The shipped model** (the sixth probe round's")[1]
    lines = list(itertools.takewhile(str.strip, section[section.index("| category |"):].splitlines()))
    names = re.findall(r"precision \(set (\w)\)", lines[0])
    assert names == ["A", "C", "B", "D", "E", "F"]
    table = {cells[0]: cells[2:] for line in lines for cells in [[c.strip() for c in line.strip("| ").split("|")]]}
    for i, name in enumerate(names):
        probes = load_probes(PATHS[name])
        got = figures(probes, analyse(probes), list(CATEGORY_LABELS))["categories"]
        for code, row in got.items():
            assert table[code][3 * i:3 * i + 3] == [str(row["precision"]), str(row["recall"]), str(row["support"])], \
                (name, code)
        assert table["mean F1"][3 * i] == f"{mean_f1(got):.3f}", name


def test_the_sets_share_no_text() -> None:
    texts = [{p.text for p in load_probes(path)} for path in PATHS.values()]
    assert not any(a & b for a, b in itertools.combinations(texts, 2))


def test_category_precision_and_recall(probe_set: tuple[Levels, list[Probe], list[Analysis]]) -> None:
    levels, probes, results = probe_set
    rows = figures(probes, results, list(CATEGORY_LABELS))["categories"]
    low = {code: r for code, r in rows.items()
           if r["precision"] is None or r["precision"] < levels.precision or r["recall"] < levels.recall}
    assert not low
    assert sum(r["recall"] for r in rows.values()) / len(rows) >= levels.mean_recall
    assert sum(r["precision"] >= TARGET for r in rows.values()) >= levels.at_target
    assert sum(r["recall"] >= TARGET for r in rows.values()) >= levels.at_target


@pytest.mark.parametrize("kind", ["thanks", "negation", "neutral"])
def test_praise_denials_and_news_are_not_negative_and_carry_no_risk(
        kind: str, probe_set: tuple[Levels, list[Probe], list[Analysis]]) -> None:
    levels, probes, results = probe_set
    rows = _of(kind, probes, results)
    wrong = [p.text for p, r in rows if r.polarity == "negative"]
    assert len(wrong) <= len(rows) * levels.wrong_share, wrong
    assert all(r.risk == 0 and r.categories == [] for p, r in rows if r.polarity != "negative")


def test_sarcasm_is_read_as_a_complaint(probe_set: tuple[Levels, list[Probe], list[Analysis]]) -> None:
    levels, probes, results = probe_set
    rows = _of("sarcasm", probes, results)
    missed = [p.text for p, r in rows if r.polarity != "negative"]
    assert len(missed) <= len(rows) * levels.wrong_share, missed


def test_complaints_are_negative(probe_set: tuple[Levels, list[Probe], list[Analysis]]) -> None:
    levels, probes, results = probe_set
    complaints = [(p, r) for p, r in zip(probes, results, strict=True) if p.categories and p.kind != "sarcasm"]
    missed = [p.text for p, r in complaints if r.polarity != "negative"]
    assert len(missed) <= len(complaints) * levels.missed_share, missed


def test_the_bank_where_money_was_kept_is_not_blamed(probe_set: tuple[Levels, list[Probe], list[Analysis]]) -> None:
    levels, probes, results = probe_set
    rows = _of("kept", probes, results)
    blamed = [(p.text, r.negative_entities) for p, r in rows if set(r.negative_entities) - set(p.targets)]
    assert len(blamed) <= levels.blamed, blamed  # the second round's model blamed the bank in 8 of 10


def test_malformed_probe_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "probes.jsonl"
    row = {"id": "x", "kind": "fees", "text": "收费", "polarity": "negative", "categories": "fees", "targets": []}
    bad.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"probes.jsonl:1: 'categories' must be a list"):
        load_probes(bad)


@pytest.mark.parametrize("text, codes", [
    ("该行因催收管理不到位被监管约谈", ["penalty"]),  # 不到位 is "inadequate", no negation
    ("骗子什么都知道，这不是你们泄露的还能是谁", ["data_leak"]),  # rhetorical: it affirms
    ("求问：提前还款要收违约金吗", []),  # a question
    ("网传该行理财暴雷，银行回应称产品均正常兑付", []),  # a statement that all runs normally denies
])
def test_general_rules_of_the_third_round(text: str, codes: list[str]) -> None:
    rules = CategoryRules()
    clean = normalize(text)
    words, _ = rules.assess(clean, negated_mask(clean), 0.5)
    assert rules.codes(words) == codes


@pytest.mark.parametrize("text, sign", [
    ("借过两次，都是按时还的，从没遇到暴力催收，还算正规", -1),  # a clean record counts against "negative"
    ("用了三年这张卡，没有乱扣过年费，账单也清楚", -1),
    ("根本没让我做风险评估就让我签字，现在亏了", 1),  # what was not done is no clean record; a grievance
    ("没有暴力催收，但是利息高得离谱，说实话", 1),  # a complaint outside the negation is still one
    ("网上说要倒闭的都是瞎传，我的钱提现正常到账", 0),  # a dismissal names no complaint
    ("办了五年的卡，没有被乱扣过一分钱年费，账单也清楚", -1),  # one word outside the negation, no contrast
    ("没有被乱扣过年费，账单也清楚，但是上个月多收了短信费", 1),  # a contrast makes it a complaint
])
def test_a_clean_record_counts_against_negative_and_a_dismissal_names_no_complaint(text: str, sign: int) -> None:
    clean = normalize(text)
    _, evidence = CategoryRules().assess(clean, negated_mask(clean), 0.5)
    assert (evidence > 0) - (evidence < 0) == sign


@pytest.mark.parametrize("text, dismissed, reported", [
    ("辟谣｜Ｅ并未被监管处罚，网传罚单系伪造", True, True),
    ("网传Ｅ要倒闭都是瞎传，提现正常到账", True, False),  # loose: only in a complaint's register
    ("币圈大佬发朋友圈谴责了一票意淫他跑路的造谣者", True, False),  # news of who spread a rumour
    ("理财经理虚假宣传，说保本保息", False, False),
    ("这次理赔很顺利，不像网上说的那么难", True, False),  # loose, like 瞎传
])
def test_the_denial_words_are_one_list_read_at_two_strengths(text: str, dismissed: bool, reported: bool) -> None:
    assert (denies(text), reported_denial(text)) == (dismissed, reported)


@pytest.mark.parametrize("text, fraud", [
    ("有人冒充信贷员收取保证金，已有十几位村民上当，该行提醒切勿相信", True),  # a report that names victims
    ("该行提醒：有人冒充信贷员收取保证金，谨防上当", False),  # a warning
])
def test_a_warning_counts_its_fraud_only_when_it_names_victims(text: str, fraud: bool) -> None:
    rules = CategoryRules()
    clean = normalize(text)
    words, evidence = rules.assess(clean, negated_mask(clean), 0.5)
    assert ("fraud" in rules.codes(words)) == fraud and (evidence > 0) == fraud


@pytest.mark.parametrize("text, codes", [
    ("平台逾期三个月了，钱取不出来，客服电话打不通", ["default"]),  # not account_funds, not service
    ("没激活的卡被扣了年费", ["fees"]),  # the charge taken is the fee
    ("卡被盗刷，客服推来推去", ["account_funds"]),  # the slow handling is the account's problem
    ("催收说不还就冻结我的银行卡", ["debt_collection"]),  # the collector's threat
])
def test_the_symptom_is_explained_by_its_cause(text: str, codes: list[str]) -> None:
    assert CategoryRules().find(normalize(text)) == codes


@pytest.mark.parametrize("text, codes", [
    ("欠了两期，催的人直接打给我丈母娘，让她帮我还", ["debt_collection"]),  # collector × harassment
    ("再不还就派人去你单位", ["debt_collection"]),  # a threat on a condition
    ("说好十二个月到期还本，现在本金一分也没见着", ["default"]),  # due × not paid
    ("借款到手只有八成，剩下的是平台强制收的服务费", ["fees"]),  # fee × not asked for
    ("去柜台存三十万，到家一看是一份五年交的寿险", ["mis_selling"]),  # deposit × policy
    ("出院后申请理赔，保险公司说是既往症一分不赔", ["contract"]),  # claim × refused
    ("那只私募的管理人说项目出了问题，本金要延后一年", ["default"]),  # issuer in trouble × what it owes
    ("收了我三千的包装费，之后电话再也打不通", ["fraud"]),  # paid × gone: not a fee, not the service
    ("柜员一直在玩手机", ["service"]), ("柜员没有玩手机", []),  # a concept in a negation scope
    ("催收打电话威胁我，还说知道我孩子在哪个学校", ["debt_collection"]),  # a loose concept loses
])
def test_concepts_find_what_no_keyword_names(text: str, codes: list[str]) -> None:
    assert CategoryRules().find(normalize(text)) == codes


@pytest.mark.parametrize("text, words", [
    ("感谢柜员！我妈被冒充公检法的骗子吓到要转账，是她一直劝着报了警", []),  # a fraud stopped
    ("多亏短信提醒，看到陌生消费马上打电话，卡被及时冻结，没有损失", []),  # a loss stopped
    ("靠谱的平台要警惕，高额返利的骗局已让多名投资人受骗", ["返利", "骗局", "受骗"]),  # no gratitude: a report
])
def test_thanks_for_a_fraud_or_loss_stopped_is_no_complaint(text: str, words: list[str]) -> None:
    rules = CategoryRules()
    clean = normalize(text)
    found, evidence = rules.assess(clean, negated_mask(clean), 0.5)
    assert sorted(found) == sorted(words) and (evidence < 0) == (not words)


@pytest.mark.parametrize("text, complaint", [
    ("这个客户经理挺负责，我想借钱炒股，他劝我说风险承受能力不够", False),  # praise, one keyword: no complaint
    ("谢谢你们的风控，我自己的工资卡都能给我冻了", True),  # thanks for the writer's own loss is sarcasm
    ("感谢客服帮忙查询，但是多扣的年费到现在也没退", True),  # a contrast turns thanks into a complaint
])
def test_praise_with_one_complaint_word_is_no_complaint_unless_the_writer_lost(text: str, complaint: bool) -> None:
    clean = normalize(text)
    _, evidence = CategoryRules().assess(clean, negated_mask(clean), 0.5)
    assert (evidence > 0) == complaint


@pytest.mark.parametrize("text, complaint", [
    ("保单条款里写的是按保额赔，结果我拿到手只有一半", True),  # a grievance: the context word counts
    ("保单条款里写的是按保额赔，上个月到账了", False),  # the same context word, no grievance
    ("说好的涨停呢，结果又跌了", False),  # a stock forum's grievance names no complaint and no institution
])
def test_a_grievance_in_the_writers_own_voice_lets_context_words_count(text: str, complaint: bool) -> None:
    clean = normalize(text)
    _, evidence = CategoryRules().assess(clean, negated_mask(clean), 0.5)
    assert (evidence > 0) == complaint


@pytest.mark.parametrize("text", [
    "谢谢这家银行让我明白了什么叫三个小时办一张卡",  # thanks for a lesson learnt the hard way
    "客服效率真高🙂 一个退款退了两个月",  # praise with irony, no thanks word
])
def test_sarcasm_without_scare_quotes_is_a_complaint(text: str) -> None:
    clean = normalize(text)
    _, evidence = CategoryRules().assess(clean, negated_mask(clean), 0.5)
    assert evidence > 0


def test_thanks_for_putting_a_complaint_right_is_no_complaint() -> None:
    rules = CategoryRules()
    clean = normalize("谢谢客服，被多扣的年费三天就原路退回了")
    words, evidence = rules.assess(clean, negated_mask(clean), 0.5)
    assert words == [] and evidence < 0


def test_concepts_come_from_config_too() -> None:
    rules = CategoryRules({"service": {"concepts": [[["柜员", "大堂经理"], ["甩脸色", "翻白眼"]]]},
                           "esg": {"label": "环境责任", "concepts": [[["工厂"], ["排污", "偷排"]]]}})
    assert rules.find("那个大堂经理一直对我甩脸色") == ["service"]
    assert rules.find("贷款给的工厂半夜偷排") == ["esg"] and rules.find("工厂开工了") == []
    assert CategoryRules({"service": {"keywords": ["服务差"], "replace": True}}).find("大堂经理一直对我甩脸色") == []
    with pytest.raises(ConfigError, match="concepts"):
        CategoryRules({"service": {"concepts": [["柜员"]]}})


@pytest.mark.parametrize("text, codes", [
    ("我在这个平台上的钱已经半年拿不出来了，客服只会说再等等", ["default"]),
    ("我被那个网贷的人弄得整夜睡不着，一天几十个电话", ["debt_collection"]),
    ("我的卡刷不出去了，去柜台说要核实身份", ["account_funds"]),
    ("Ｅ股价今日大跌百分之五", []),  # a report, not a customer's own words: no category guessed
])
def test_where_the_rules_find_nothing_the_learnt_model_names_the_complaint(text: str, codes: list[str]) -> None:
    rules = CategoryRules()
    clean = normalize(text)
    assert rules.find(clean) == []
    assert rules.report(clean, []) == codes


# c187 of set C: a mis-sale in sarcasm that no keyword or concept names (the rules find nothing in it).
_MISSED = "恭喜Ｅ，成功把我五十万理成了五万，理财大师名不虚传"


def test_the_learnt_fallback_names_only_the_categories_whose_rules_it_learnt() -> None:
    replaced = {code: {"keywords": [f"{code}专用词"], "replace": True} for code in CATEGORY_LABELS if code != "fraud"}
    assert CategoryRules().report(_MISSED, []) == ["mis_selling"]
    # A replaced category means what its new keywords say: the fallback names the best of the others.
    assert CategoryRules({"mis_selling": {"keywords": ["误导购买"], "replace": True}}).report(_MISSED, []) not in (
        [], ["mis_selling"])
    assert CategoryRules(replaced).report(_MISSED, []) == ["fraud"]
    # Keywords added to a category keep what the fallback learnt of it.
    assert CategoryRules({"mis_selling": {"keywords": ["夸大收益"]}}).report(_MISSED, []) == ["mis_selling"]


def test_the_learnt_fallback_file_absent_or_damaged(tmp_path: Path) -> None:
    assert _learnt(tmp_path / "category.bin") is None
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(LEARNT_FILE.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="damaged.bin"):
        _learnt(damaged)


def test_the_learnt_fallback_runs_without_scikit_learn_or_the_probe_files() -> None:
    # An audit hook sees every file the process opens: none of the probe sets may be among them.
    code = f"""if True:
        import sys
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        from nlp import Analyzer
        from nlp.analyzer import AnalysisInput
        from yuqing.model import Institution
        text = {_MISSED.replace("Ｅ", "金穗财富")!r}
        result = Analyzer([Institution("金穗财富")]).analyze_batch([AnalysisInput(text)], keywords=False)[0]
        print(result.polarity, result.categories, "sklearn" in sys.modules,
              any("tests/fixtures" in path for path in opened))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["negative", "['mis_selling']", "False", "False"]


def test_yuqing_train_categories_rebuilds_the_shipped_file_byte_for_byte(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    assert train_main(["categories", "--out", str(tmp_path / "category.bin")]) == 0
    assert (tmp_path / "category.bin").read_bytes() == LEARNT_FILE.read_bytes()
