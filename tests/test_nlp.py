"""The analyse stage with the shipped models: behaviours, the `yuqing analyze` contract, config
errors, and one end-to-end training run on a small slice of the real training data."""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from array import array
from pathlib import Path

import pytest

from nlp import CATEGORY_LABELS, Analysis, AnalysisInput, Analyzer, analyze_jsonl
from nlp.categories import CategoryRules, _learnt, _learnt_found, _longest_first, learnt_features
from nlp.features import (
    NAME,
    NEGATED,
    DocumentNumbers,
    char_grams,
    complaint_features,
    document_features,
    entity_features,
    feature_gram_keys,
    gram_keys,
    may_hold_money,
    name_features,
    only_holds_money,
    prepare,
    reported_denial,
)
from nlp.keywords import top_keywords
from nlp.linear import LinearModel
from nlp.negation import negated_mask
from nlp.normalize import normalize
from nlp.sentiment import (
    DENIAL_EVIDENCE,
    DOCUMENT_FILE,
    EVIDENCE_GATE,
    MODEL_DIR,
    TARGET_FILE,
    SentimentModel,
    decide,
)
from yuqing.config import ConfigError
from yuqing.model import Institution, Mention

REPO = Path(__file__).resolve().parent.parent
CMB = Institution("招商银行", ("招行", "招商"), ("招商局", "招商引资"))
ICBC = Institution("中国工商银行", ("工商银行", "工行"))


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer([CMB, ICBC])


def one(analyzer: Analyzer, text: str, entities: list[str] | None = None, **kw: object) -> Analysis:
    return analyzer.analyze_batch([AnalysisInput(text, entities=entities, **kw)])[0]  # type: ignore[arg-type]


# --- normalisation -------------------------------------------------------------------------------

def test_normalize_strips_weibo_markup_urls_and_lost_emoji() -> None:
    raw = "????#小资钱包涉嫌诈骗[超话]# @受害人联盟 七问经侦 http://t.cn/A6xyz ???? //@张三:退钱！"
    out = normalize(raw)
    assert out == "小资钱包涉嫌诈骗 七问经侦 | 退钱!"


def test_normalize_full_width_traditional_and_length() -> None:
    assert normalize("ＡＢＣ１２３，我們的銀行帳戶被凍結了") == "ABC123,我们的银行帐户被冻结了"
    assert normalize("简体文本不变") == "简体文本不变"
    assert len(normalize("好" * 5000, max_chars=300)) == 300
    cut = normalize("第一句话很长。" * 100, max_chars=600)
    assert 480 < len(cut) <= 600 and cut.endswith("。")  # ends on a whole sentence
    assert normalize("") == "" and normalize(" \n\t ") == ""


# --- negation and categories -----------------------------------------------------------------------

def test_negation_scope_covers_cue_and_what_follows_until_punctuation() -> None:
    text = "平台并未逾期，已经兑付"
    mask = negated_mask(text)
    covered = "".join(ch for ch, m in zip(text, mask, strict=True) if m)
    assert covered == "并未逾期"
    assert not any(negated_mask("不良贷款率上升，非法集资"))  # 不良 and 非法 are complaints, not negation


@pytest.mark.parametrize("text, absent", [
    ("这家平台不是骗子，大家放心", "fraud"),
    ("该产品并未逾期，按时兑付", "default"),
    ("我们没有乱收费，也没有收取手续费", "fees"),
])
def test_negated_keywords_do_not_make_a_category(analyzer: Analyzer, text: str, absent: str) -> None:
    rules = CategoryRules()
    assert absent not in rules.find(normalize(text))
    assert absent not in one(analyzer, text).categories


@pytest.mark.parametrize("text, code", [
    ("某平台涉嫌非法集资，老板已经跑路", "fraud"),
    ("催收人员爆通讯录，天天骚扰家人", "debt_collection"),
    ("客户经理承诺保本，结果理财亏损三成", "mis_selling"),
    ("产品到期无法兑付，已经逾期三个月", "default"),
    ("信用卡莫名被扣年费，乱收费", "fees"),
    ("银行卡被盗刷两万元，账户还被冻结", "account_funds"),
    ("刚办完贷款就接到推销电话，个人信息泄露", "data_leak"),
    ("保险公司拒赔，准备起诉打官司，合同纠纷", "contract"),
    ("柜员态度恶劣，客服电话无人接听", "service"),
    ("该行因违规放贷被银保监局罚款200万元", "penalty"),
])
def test_categories_found_in_complaints(analyzer: Analyzer, text: str, code: str) -> None:
    result = one(analyzer, text)
    assert code in result.categories
    assert result.polarity == "negative"


def test_prevention_and_thanks_shield_what_follows() -> None:
    text = "感谢柜员帮我拦下了一笔诈骗转账，好险"
    covered = "".join(ch if m else "_" for ch, m in zip(text, negated_mask(text), strict=True))
    assert covered == "感谢柜员帮我拦下了一笔诈骗转账___"  # up to the next punctuation
    assert CategoryRules().find(text) == []
    assert CategoryRules().find("警方提醒：谨防冒充客服诈骗") == []
    assert CategoryRules().find("差点被骗，骗子卷款跑了") == ["fraud"]  # no shield, no pass


def test_several_complaint_words_count_more_than_one() -> None:
    rules = CategoryRules()
    one_word = rules.evidence(rules.matches("催收电话打到单位"), 0.5)
    two_words = rules.evidence(rules.matches("催收电话打到单位，这是暴力催收"), 0.5)
    assert one_word == pytest.approx(0.5)  # the weight, whatever the category's severity
    assert one_word < two_words < 1
    assert rules.evidence(rules.matches("催收催收催收"), 0.5) == one_word  # distinct words, not repeats
    assert rules.evidence([], 0.5) == 0


def test_keyword_that_is_itself_a_negation_still_counts() -> None:
    assert CategoryRules().find("客户反映不能提现") == ["default"]


def test_category_labels_cover_every_builtin_code() -> None:
    assert set(CategoryRules().categories) == set(CATEGORY_LABELS)
    assert CATEGORY_LABELS["debt_collection"] == "暴力催收"


def test_category_config_adds_replaces_and_defines() -> None:
    rules = CategoryRules({"fees": {"keywords": ["账户管理费"]},
                           "default": {"keywords": ["展期兑付"], "replace": True},
                           "esg": {"label": "环境责任", "keywords": ["污染"], "severity": 0.2}})
    assert rules.find("收了账户管理费") == ["fees"] and rules.find("又要收手续费") == ["fees"]
    assert rules.find("产品逾期了") == [] and rules.find("宣布展期兑付") == ["default"]
    assert rules.find("工厂污染") == ["esg"] and rules.labels["esg"] == "环境责任"


@pytest.mark.parametrize("settings, key", [
    ({"colour": 1}, "nlp.colour"),
    ({"categories": {"Bad Code": {"keywords": ["x"], "label": "x"}}}, "nlp.categories.Bad Code"),
    ({"categories": {"esg": {"keywords": ["污染"]}}}, "nlp.categories.esg.label"),
    ({"categories": {"fees": {"keywords": "年费"}}}, "nlp.categories.fees.keywords"),
    ({"categories": {"fees": {"severity": 2}}}, "nlp.categories.fees.severity"),
    ({"risk": {"weights": {"virality": 0.2}}}, "nlp.risk.weights.virality"),
    ({"risk": {"sources": {"weibo": "high"}}}, "nlp.risk.sources.weibo"),
    ({"max_chars": 0}, "nlp.max_chars"),
    ({"model": "/nonexistent/models"}, "nlp.model"),
])
def test_bad_settings_name_the_key(settings: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        Analyzer([], settings)
    assert err.value.where == "nlp" and err.value.key == key


def test_linear_model_scores_cues_and_file(tmp_path: Path) -> None:
    # Weights that are sums of powers of two: every sum is exact in any order, so these are the definitions.
    model = LinearModel(["a", "b", "c", "d"], array("f", [0.5, -1.0, 0.25, 2.0, -0.75, 0.5, 0.25, 0.0]),
                        [1.0, -0.5], {"outputs": ["x", "y"]})
    # Each distinct known feature once, unknown ones ignored.
    assert model.scores(["a", "a", "zz", "c"]) == [1.0 + 0.5 - 0.75, -0.5 - 1.0 + 0.5]
    assert model.scores([]) == [1.0, -0.5]
    # Only rises above 0; ties ordered by the feature, as sorting (rise, feature) pairs does.
    assert model.top(["b", "d", "a", "c", "a"], [1.0, 0.0], 3) == [("a", 0.5), ("d", 0.25), ("b", 0.25)]
    assert model.top("abcd", [1.0, 0.0], 2) == [("a", 0.5), ("d", 0.25)]
    assert model.top("abcd", [1.0, -1.0], 5) == [("a", 1.5), ("d", 0.25)]
    found = model.find(["c", "zz", "a"])
    assert sorted(found.rows.tolist()) == [0, 2] and model.scores(found) == model.scores(["a", "c"])
    assert model.top(found, [1.0, 0.0], 5) == [("a", 0.5)]
    lists = [["a", "a", "zz", "c"], [], ["zz"], ["d", "b"]]
    assert model.scores_each(lists) == [model.scores(f) for f in lists] and model.scores_each([]) == []
    with pytest.raises(ValueError, match="another model"):
        LinearModel(["a"], array("f", [1.0]), [0.0], {}).scores(found)
    model.save(tmp_path / "m.bin")
    again = LinearModel.load(tmp_path / "m.bin")
    assert again.features == ["a", "b", "c", "d"] and again.meta == {"outputs": ["x", "y"]}
    assert [again.scores([f]) for f in "abcd"] == [model.scores([f]) for f in "abcd"]


def test_keyword_trie_finds_what_the_longest_first_alternation_finds() -> None:
    words = sorted(CategoryRules()._owner, key=len, reverse=True)
    plain = re.compile("|".join(map(re.escape, words)))
    trie = re.compile(_longest_first(words))
    texts = [json.loads(line)["text"] for path in sorted((REPO / "tests" / "fixtures").glob("complaint_probes*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    texts.append("暴力催收催收催款，手续费服务费，非法集资诈骗骗子骗局P图R4R5")
    assert len(texts) > 800
    for text in texts:
        assert [m.span() for m in trie.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert [m.group() for m in re.finditer(_longest_first(["招商", "招商银行", "a.b"]), "招商银行招商a.bacb")] == [
        "招商银行", "招商", "a.b"]


def test_entities_scored_together_score_as_one_by_one() -> None:
    target = LinearModel.load(MODEL_DIR / TARGET_FILE)
    doc = prepare("锦程银行和华岳保险都说自己没问题，可锦程银行的理财到期不兑付", ["锦程银行", "华岳保险", "锦程"])
    feats = [entity_features(doc.text, e, doc.entities, "", doc.named) for e in doc.entities]
    assert target.scores_each(feats) == [target.scores(f) for f in feats] and len(feats) == 3


def _probe_rows() -> list[dict]:
    return [json.loads(line) for path in sorted((REPO / "tests" / "fixtures").glob("complaint_probes*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_learnt_category_grams_found_by_number_are_those_found_by_name() -> None:
    learnt = _learnt()
    assert learnt is not None
    for row in _probe_rows() + [{"text": ""}, {"text": "a"}]:
        masked = prepare(row["text"], row.get("targets", [])).masked
        by_name = learnt.find(learnt_features(masked)).rows
        assert sorted(_learnt_found(learnt, masked).rows.tolist()) == sorted(by_name.tolist())


def test_character_grams_found_by_number_are_those_found_by_name() -> None:
    model = LinearModel.load(MODEL_DIR / DOCUMENT_FILE)
    grams = model.key_index(feature_gram_keys)
    negated = 0
    for row in _probe_rows():
        doc = prepare(row["text"], row.get("targets", []))
        mark = [NEGATED if m else "" for m in doc.negated]
        by_name = model.find(char_grams(doc.masked, mark)).rows
        assert sorted(grams.rows(gram_keys(doc.masked, doc.negated)).tolist()) == sorted(by_name.tolist())
        negated += any(doc.negated)
    assert negated > 200  # marked grams were looked up too
    # One to three characters, perhaps after NEGATED; not longer ones, and not the empty name.
    names = ["a", "ab", "abc", "abcd", NEGATED, NEGATED + "a", NEGATED + "abc", NEGATED + "abcd", "", "Ｅ的"]
    keys, at = feature_gram_keys(names)
    assert [names[i] for i in at] == ["a", "ab", "abc", NEGATED, NEGATED + "a", NEGATED + "abc", "Ｅ的"]
    text_keys = gram_keys("abcＥ的", bytearray([0, 0, 0, 0, 0]))
    assert set(keys.tolist()) & set(text_keys.tolist()) == {keys[i] for i in (0, 1, 2, 6)}
    assert gram_keys("a", bytearray([1])).tolist() == [keys[4]] and len(gram_keys("", bytearray())) == 0


def test_document_features_found_by_number_are_those_found_by_name() -> None:
    model = LinearModel.load(MODEL_DIR / DOCUMENT_FILE)
    numbers = DocumentNumbers(model.features)
    rows = _probe_rows() + [{"text": t} for t in ("", "a", "不 是  骗子\n好的", "众车在线跑路了", "没有 理财")]
    named = 0
    for row in rows:
        doc = prepare(row["text"], row.get("targets", []) + ["众车在线"])
        by_name_only = complaint_features(["催收", "骗子"], ["debt_collection", "fraud"]) + name_features(doc)
        by_name = model.find(document_features(doc.masked, doc.negated) + by_name_only).rows
        by_number = numbers.index.rows(numbers.keys(doc.masked, doc.negated), by_name_only)
        assert sorted(by_number.tolist()) == sorted(by_name.tolist()) and len(set(by_number.tolist())) == len(by_number)
        named += len(model.find(by_name_only).rows)
    assert named > len(rows)  # complaint and name features were found too
    # Made-up features: a word bigram across a space, a negated word, a one-character word (never a
    # feature of a text), words the model has no feature with, and features found only by name.
    features = ["Ｗ银行", "Ｗ银行Ｗ理财产品", "！Ｗ骗子", "Ｗ骗子", "Ｗ是", "Ｗ不是Ｗ骗子", "Ｋn0", "Ｎ银行", "银行",
                "！骗"]
    numbers = DocumentNumbers(features)
    text = "银行 理财产品不是骗子"
    negated = bytearray(len(text))
    negated[text.index("骗子")] = 1
    by_name_only = ["Ｋn0", "Ｎ银行", "Ｋn1"]
    found = {features[i] for i in numbers.index.rows(numbers.keys(text, negated), by_name_only).tolist()}
    assert found == set(features) & set(document_features(text, negated) + by_name_only)
    assert {"Ｗ银行Ｗ理财产品", "！Ｗ骗子", "Ｗ不是Ｗ骗子", "Ｋn0"} <= found and not {"Ｗ骗子", "Ｗ是"} & found
    assert numbers.index.rows(numbers.keys("理财", bytearray(2)), ["Ｗ理财"]).tolist() == []


# --- sentiment and targeting --------------------------------------------------------------------------

def test_polarity_of_plain_posts(analyzer: Analyzer) -> None:
    good = one(analyzer, "看好这只股票，业绩超预期，明天继续加仓！")
    bad = one(analyzer, "又跌停了，亏了一半，割肉离场，太坑了")
    assert good.polarity == "positive" and good.sentiment > 0.7
    assert bad.polarity == "negative" and bad.sentiment < 0.3
    assert bad.risk > good.risk


JINCHENG = Institution("锦程银行", ("锦程",))


@pytest.mark.parametrize("text", [
    "锦程信用卡催收打到我单位了，这是暴力催收！",
    "锦程银行信用卡乱收年费，投诉了三次没人管",
    "锦程银行的催收天天打电话给我爸妈，太过分了",
    "锦程银行泄露我的个人信息，天天接到骚扰电话",
])
@pytest.mark.parametrize("watched", [True, False])
def test_consumer_complaints_are_negative(text: str, watched: bool) -> None:
    # Complaints about a bank are in neither training set; the complaint rules carry them,
    # whether or not the bank is a watched institution (an entity) in the text.
    result = Analyzer([JINCHENG] if watched else []).analyze_batch([AnalysisInput(text)], keywords=False)[0]
    assert result.polarity == "negative" and result.sentiment < 0.3 and result.categories
    assert result.negative_entities == (["锦程银行"] if watched else [])


@pytest.mark.parametrize("text", [
    "感谢锦程银行柜员帮我拦下了一笔诈骗转账",
    "锦程银行的客户经理很负责，及时提醒我这是骗局，保住了我的钱",
    "锦程银行成功堵截一起电信诈骗，为储户挽回损失5万元",
    "多亏锦程银行及时冻结了骗子的账户，钱追回来了",
    "感谢锦程银行，帮我识破了一个理财骗局",
])
def test_praise_for_stopping_fraud_is_not_negative(text: str) -> None:
    result = Analyzer([JINCHENG]).analyze_batch([AnalysisInput(text)], keywords=False)[0]
    assert result.polarity != "negative" and result.negative_entities == [] and result.categories == []
    assert result.institutions == ["锦程银行"]


def test_negation_lowers_negativity(analyzer: Analyzer) -> None:
    accused = one(analyzer, "甲平台是骗子，已经逾期三个月", ["甲平台"])
    cleared = one(analyzer, "甲平台不是骗子，并未逾期，按时兑付", ["甲平台"])
    assert accused.polarity == "negative" and accused.categories
    assert cleared.categories == []
    assert cleared.risk < accused.risk / 2


@pytest.mark.parametrize("mild, strong", [("服务有点慢", "服务非常非常慢，太让人失望了"),
                                          ("这个产品一般", "这个产品特别坑，坑死人了")])
def test_intensity_raises_negativity(analyzer: Analyzer, mild: str, strong: str) -> None:
    weak, loud = one(analyzer, mild), one(analyzer, strong)
    assert loud.polarity == "negative" and weak.polarity != "negative"
    assert loud.risk > weak.risk and loud.sentiment < weak.sentiment


def test_target_is_the_most_specific_name(analyzer: Analyzer) -> None:
    result = one(analyzer, "11月5日，警方对众车在线涉嫌非法吸收公众存款案立案侦查", ["众车", "众车在线"])
    assert result.polarity == "negative"
    assert result.negative_entities == ["众车在线"]


@pytest.mark.parametrize("text, entities, target", [
    ("甲平台与乙平台合作，乙平台涉嫌非法集资已被立案侦查。", ["甲平台", "乙平台"], ["乙平台"]),
    ("乙银行客户举报：甲理财平台逾期不兑付，老板跑路", ["乙银行", "甲理财平台"], ["甲理财平台"]),
])
def test_target_is_the_accused_among_several(analyzer: Analyzer, text: str, entities: list[str],
                                             target: list[str]) -> None:
    assert one(analyzer, text, entities).negative_entities == target


def test_target_is_not_the_bank_holding_the_money(analyzer: Analyzer) -> None:
    result = one(analyzer, "受害人在工商银行存的钱被甲公司骗走，警方称甲公司涉嫌集资诈骗，老板已被刑拘",
                 ["工商银行", "甲公司"])
    assert result.negative_entities == ["甲公司"]
    impersonated = one(analyzer, "骗子冒充工商银行客服，骗我把存款转到所谓的安全账户", ["工商银行"])
    assert impersonated.polarity == "negative" and impersonated.negative_entities == []


@pytest.mark.parametrize("text, holds", [
    ("骗子让我把工商银行卡里的钱转出去，说是安全账户", True),
    ("他从工商银行、建设银行等账户转走了十几万给甲公司", True),
    ("通过工商银行网银转给了甲公司的所谓理财经理", True),
    ("工商银行乱扣我的年费，打客服也没人管", False),
])
def test_the_bank_named_only_as_where_money_was_kept(text: str, holds: bool) -> None:
    entities = ["工商银行", "建设银行", "甲公司"]
    assert only_holds_money(text, "工商银行", [e for e in entities if e in text]) is holds


def test_texts_that_may_hold_money_are_all_that_do() -> None:
    rows = _probe_rows() + [{"text": t, "targets": ["工商银行", "建设银行", "甲公司"]} for t in (
        "骗子让我把工商银行卡里的钱转出去", "他从工商银行、建设银行等账户转走了十几万", "甲公司和工商银行账户都被冻结",
        "建设银行与工商银行卡被盗刷", "工商银行乱扣我的年费")]
    held = skipped = 0
    for row in rows:
        doc = prepare(row["text"], [t for t in row.get("targets", []) if t in row["text"]])
        holds = [only_holds_money(doc.text, e, doc.entities) for e in doc.entities]
        held += any(holds)
        if not may_hold_money(doc.masked):
            skipped += bool(doc.entities)
            assert not any(holds), row["text"]
    assert held >= 4 and skipped > 20


def _most_learnt_name() -> str:
    """The name the shipped target model learnt most against (a recurring platform of the news)."""
    target = LinearModel.load(MODEL_DIR / TARGET_FILE)
    return max((f for f in target.features if f.startswith(NAME)), key=lambda f: target.scores([f])[0])[1:]


def test_a_learnt_name_counts_an_unseen_or_watched_one_does_not() -> None:
    model = SentimentModel.load()
    learnt = _most_learnt_name()
    # An unseen name of the same length and ending: every other feature of the text is the same.
    unseen = "锦程华岳泰和永安"[:len(learnt) - 2] + learnt[-2:]
    text = "{}的客服说下周处理，到现在还没有消息，有人知道怎么回事吗"

    def probs(name: str, watched: tuple[str, ...] = ()) -> list[float]:
        return model.assess(prepare(text.format(name), [name], watched=watched)).probs

    assert probs("锦程银行") == probs("华岳银行")
    assert probs(learnt)[0] > probs(unseen)[0]
    assert probs(learnt, watched=(learnt,)) == probs(unseen)
    # The analyzer never gives the institutions it watches a name feature, found or given.
    watching = Analyzer([Institution(learnt)])
    found = one(watching, text.format(learnt))
    assert found.institutions == [learnt]
    assert found.sentiment == one(Analyzer([Institution(unseen)]), text.format(unseen)).sentiment
    assert one(watching, text.format(learnt), [learnt]).sentiment == found.sentiment
    assert not any("[名称" in cue for cue in found.why["features"])


def test_not_negative_means_no_targets(analyzer: Analyzer) -> None:
    result = one(analyzer, "招商银行发布年报，净利润同比增长，零售业务表现亮眼", ["招商银行"])
    assert result.polarity != "negative" and result.negative_entities == []


def test_configured_institutions_found_respecting_exclusions(analyzer: Analyzer) -> None:
    result = one(analyzer, "招商局集团与招行签约，工行也参与了招商引资")
    assert result.institutions == ["招商银行", "中国工商银行"]
    assert one(analyzer, "招商局港口今日公告").institutions == []
    fraud = one(analyzer, "招行信用卡中心暴力催收，天天打电话骚扰我的家人")
    assert fraud.negative_entities == ["招商银行"] and "debt_collection" in fraud.categories


def test_given_entities_are_reported_as_written(analyzer: Analyzer) -> None:
    result = one(analyzer, "????宜贷网清盘，出借人血本无归，平台涉嫌诈骗", ["????宜贷网"])
    assert result.negative_entities == ["????宜贷网"]


# --- the behaviours a reader notices at once (issue 12) ------------------------------------------------

def test_thanks_in_the_writers_words_count_against_negative() -> None:
    # The demo's thank-you, title and body: the body's 公检法 and 报了警 read as news of a fraud.
    title = "感谢锦程银行柜员帮我拦下了一笔诈骗转账"
    body = "我妈差点给“公检法”转账二十万，锦程银行的柜员发现不对劲，耐心劝阻还帮忙报了警，真的太感谢了！"
    rules = CategoryRules()
    text = f"{title} {body}"
    doc = prepare(text, ["锦程银行"])
    assert rules.assess(doc.masked, doc.negated, 0.5)[1] == -0.5
    result = Analyzer([JINCHENG]).analyze_batch([AnalysisInput(body, title)], keywords=False)[0]
    assert result.polarity != "negative" and result.risk == 0


@pytest.mark.parametrize("text", ["感谢锦程银行让我体验了一把排队三小时的快乐，真是“服务一流”啊",
                                  "感谢锦程银行，暴力催收打到我单位，爆我通讯录"])
def test_sarcastic_thanks_and_thanks_beside_a_complaint_are_no_evidence_against_negative(text: str) -> None:
    doc = prepare(text, ["锦程银行"])
    assert CategoryRules().assess(doc.masked, doc.negated, 0.5)[1] >= 0


def test_thanks_lower_p_negative_in_proportion() -> None:
    label, probs = decide([0.6, 0.3, 0.1], 0.8, -0.5)
    assert label != "negative" and probs[0] == pytest.approx(0.4) and sum(probs) == pytest.approx(1)


HUAYUE = Institution("华岳保险", ("华岳人寿",))


def test_mis_selling_in_a_customers_words() -> None:
    text = "某银行理财经理诱导我买了高风险产品，现在亏了30%，说好的保本呢"
    result = Analyzer([]).analyze_batch([AnalysisInput(text)], keywords=False)[0]
    assert result.polarity == "negative" and result.categories == ["mis_selling"]


@pytest.mark.parametrize("text", ["感谢锦程银行柜员帮我拦下了一笔诈骗转账", "锦程银行新出的联名卡权益还不错"])
def test_praise_is_not_negative_and_carries_no_risk(text: str) -> None:
    result = Analyzer([JINCHENG]).analyze_batch([AnalysisInput(text, source="weibo", engagement=5000)])[0]
    assert result.polarity != "negative" and result.risk == 0 and result.categories == []


def test_risk_is_zero_unless_negative(analyzer: Analyzer) -> None:
    texts = ["招商银行发布年报，净利润同比增长", "工行今天的服务还行吧", "看好这只股票，明天继续加仓"]
    for result in analyzer.analyze_batch([AnalysisInput(t, source="news", engagement=10**6) for t in texts]):
        assert result.polarity != "negative" and result.risk == 0


def test_keywords_never_return_a_watched_name_or_a_fragment_of_one() -> None:
    texts = ["锦程银行信用卡中心暴力催收，锦程的催收员天天打电话", "华岳保险拒赔，华岳人寿的客服推诿",
             "锦程银行信用卡乱收年费", "华岳保险退保扣了一大笔钱"]
    names = [*JINCHENG.names, *HUAYUE.names]
    for words in [top_keywords(texts, 15, exclude=names),
                  *(r.keywords for r in Analyzer([JINCHENG, HUAYUE]).analyze_batch([AnalysisInput(t) for t in texts]))]:
        assert words
        assert not any(set(w) & set("锦程华岳") for w in words), words  # no name, no piece of one


def test_why_names_the_cues_that_decided(analyzer: Analyzer) -> None:
    result = one(analyzer, "招行信用卡中心暴力催收，天天打电话骚扰我的家人，并不是我不还")
    assert result.polarity == "negative"
    assert {"暴力催收", "骚扰"} <= set(result.why["categories"])
    assert any(cue.startswith("并不是") for cue in result.why["negation"])
    assert result.why["features"] and all(float(f.rsplit(" ", 1)[1]) > 0 for f in result.why["features"])
    cleared = one(analyzer, "这家平台不是骗子，大家放心")
    assert "骗子" not in cleared.why["categories"] and cleared.why["negation"]


def test_complaint_findings_are_learnt_features_with_readable_names(analyzer: Analyzer) -> None:
    from nlp.features import complaint_features
    from nlp.sentiment import readable

    feats = complaint_features(["暴力催收", "骚扰"], ["debt_collection"])
    assert [readable(f) for f in feats] == ["[类别 debt_collection]", "[投诉词 暴力催收]", "[投诉词 骚扰]",
                                            "[2 个投诉词]"]
    # the shipped model learnt weights for them: the category of violent collection counts towards negative
    assert analyzer.model._document.scores([feats[0]])[3] > analyzer.model._document.bias[3]


def test_mentions_carry_why(analyzer: Analyzer) -> None:
    m = Mention(url="https://example.com/p/9", source="heimao", content="招行信用卡被盗刷，客服推诿不处理")
    analyzer.analyze_mentions([m])
    assert m.why["categories"] and Mention.from_dict(m.to_dict()).why == m.why


def test_complaint_evidence_needs_some_doubt_from_the_model_itself() -> None:
    sure_not, unsure = 0.5 * EVIDENCE_GATE, 2 * EVIDENCE_GATE  # a product page; a complaint in unknown words
    assert decide([1 / 3] * 3, sure_not, 0.5)[0] != "negative"
    assert decide([1 / 3] * 3, sure_not, 0.5, gate=0.0)[0] == "negative"
    assert decide([1 / 3] * 3, unsure, 0.5)[0] == "negative"
    assert decide([sure_not, 0.5, 0.5 - sure_not], None, -0.5)[1][0] == pytest.approx(sure_not / 2)


def test_confidence_floor_makes_unsure_posts_neutral() -> None:
    unsure = [0.36, 0.30, 0.34]  # negative wins, but barely
    assert decide(unsure, None, 0.0)[0] == "negative"
    assert decide(unsure, None, 0.0, floor=0.4)[0] == "neutral"
    assert decide([0.1, 0.3, 0.6], None, 0.0, floor=0.4)[0] == "positive"


def test_complaint_evidence_counts_less_in_a_report_and_not_in_a_denial() -> None:
    rules = CategoryRules()
    def evidence(text: str) -> float:
        return rules.assess(text, negated_mask(text), 0.5)[1]

    customer, report = evidence("我的卡被罚款了还逾期"), evidence("记者获悉，该行被罚款，贷款逾期")
    denial = evidence("网传该行产品逾期，银行辟谣称不属实")
    assert customer > report > denial == 0


@pytest.mark.parametrize("text, entities, denial", [
    ("远帆证券声明：网传我司资管产品无法兑付的消息不实，公司经营一切正常", ["远帆证券"], True),
    ("辟谣｜康泽人寿并未被监管处罚，网传罚单系伪造", ["康泽人寿"], True),
    ("关于网传北辰银行理财暴雷一事，北辰银行回应称所有产品均正常兑付", ["北辰银行"], True),
    ("华岳保险否认拒赔，称相关理赔已于上周完成", ["华岳保险"], True),
    ("银行伪造我的签名给我办了一笔贷款", [], False),  # a forged signature: the complaint
    ("平台的资格证书和银行存管全是假的，实际控制人已被刑事拘留", [], False),  # an accusation
    ("四名投资人编造散布谣言被警方处理", [], False),  # news of who spread a rumour
    ("该行否认自己有责任，储户的钱至今没有追回", [], False),  # denying responsibility is the bad news
    ("客服表示没有收到我的材料，一直拖着不处理", [], False),  # the writer's own complaint
    ("理财经理虚假不实宣传，说保本保息", [], False),  # false advertising
    ("官方至今未辟谣：康泽人寿理财无法兑付", [], False),  # no denial (the lookbehinds written after 辟谣)
    ("康泽人寿完全辟谣：理财无法兑付一事", [], False),
    ("康泽人寿辟谣：理财正常兑付", [], True),
    ("平台宣称并未挪用资金，投资人不信", [], False),  # a claim
    ("平台称并未挪用资金", [], True),
])
def test_a_reported_denial_is_recognised(text: str, entities: list[str], denial: bool) -> None:
    assert reported_denial(prepare(text, entities).masked) == denial


def test_a_reported_denial_counts_against_negative() -> None:
    label, probs = decide([1 / 3] * 3, 0.8, 0.0, denial=True)
    assert label != "negative" and probs[0] == pytest.approx(0.8 * (1 - DENIAL_EVIDENCE))
    assert decide([1 / 3] * 3, 0.8, 0.5, denial=True)[1][0] == pytest.approx(0.8 * (1 - DENIAL_EVIDENCE))
    assert decide([1 / 3] * 3, 0.8, 0.0)[0] == "negative"


def test_a_category_that_explains_another_is_reported_alone() -> None:
    rules = CategoryRules()
    assert rules.find("该公司因销售误导、暴力催收被罚款50万元") == ["penalty"]
    assert rules.find("催收说我逾期了要上门找我") == ["debt_collection"]


# --- risk, keywords, determinism, threads ----------------------------------------------------------------

def test_risk_grows_with_engagement_and_source(analyzer: Analyzer) -> None:
    text = "某银行理财产品爆雷，投资人血本无归"
    quiet = one(analyzer, text, source="tieba", engagement=0)
    loud = one(analyzer, text, source="news", engagement=50_000)
    assert 0 <= quiet.risk < loud.risk <= 1


def test_risk_weights_are_configurable() -> None:
    text = [AnalysisInput("某银行理财产品爆雷，投资人血本无归", engagement=50_000)]
    plain = Analyzer([], {}).analyze_batch(text)[0].risk
    viral = Analyzer([], {"risk": {"weights": {"engagement": 1.0, "category": 0.0}}}).analyze_batch(text)[0].risk
    assert viral != plain


def test_top_keywords_exclude_institutions() -> None:
    texts = ["招商银行信用卡暴力催收，催收电话打到单位", "招行催收人员辱骂客户", "催收短信威胁家人，招商银行不处理"]
    words = top_keywords(texts, 5, exclude=CMB.names)
    assert "催收" in words
    assert not any(n in w or w in n for w in words for n in CMB.names)


def test_mentions_filled_in_place(analyzer: Analyzer) -> None:
    m = Mention(url="https://example.com/p/1", source="heimao", title="投诉招商银行",
                content="招行信用卡被盗刷，客服推诿不处理，要求退款", engagement=120)
    analyzer.analyze_mentions([m])
    assert m.institutions == ["招商银行"] and m.polarity == "negative"
    assert m.risk is not None and m.sentiment is not None
    assert "account_funds" in m.categories and 0 < m.risk <= 1
    assert m.keywords and "招行" not in m.keywords


def test_mentions_keep_institutions_set_by_the_crawler(analyzer: Analyzer) -> None:
    board = Mention(url="https://guba.example/p/2", source="guba", content="今天又跌了，工行的分红也救不了")
    board.institutions = ["招行"]  # the board's company, which the post never names (an alias here)
    named = Mention(url="https://guba.example/p/3", source="guba", content="招商银行和工商银行都涨了")
    named.institutions = ["招商银行"]
    analyzer.analyze_mentions([board, named])
    assert board.institutions == ["招商银行", "中国工商银行"]  # canonical, then the one found
    assert named.institutions == ["招商银行", "中国工商银行"]  # no duplicate


def test_deterministic_and_thread_safe(analyzer: Analyzer) -> None:
    items = [AnalysisInput(f"第{i}条：招行信用卡逾期被催收，态度恶劣" if i % 2 else f"第{i}条：工行服务不错")
             for i in range(40)]
    expected = analyzer.analyze_batch(items)
    assert Analyzer([CMB, ICBC]).analyze_batch(items) == expected
    results: list[list[Analysis]] = []
    threads = [threading.Thread(target=lambda: results.append(analyzer.analyze_batch(items))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# --- the `yuqing analyze` contract -------------------------------------------------------------------

def test_analyze_jsonl_contract(tmp_path: Path, analyzer: Analyzer) -> None:
    rows: list[dict[str, object]] = [
            {"id": "a1", "title": "客户投诉", "text": "某银行信用卡中心暴力催收，多次骚扰家人。",
             "entities": ["某银行"]},
            {"id": "a2", "text": "今天去网点办业务，工作人员很耐心，服务不错。", "extra": {"kept": [1, 2]}},
            {"id": "a3", "text": "   "},
            {"id": "a4", "text": "看好这只股票，明天继续加仓！" * 80}]
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(2, "{not json")
    lines.insert(3, json.dumps({"id": "bad", "text": 5}))
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.txt"
    with errors.open("w") as err:
        assert analyze_jsonl(src, out, analyzer, errors=err) == 6
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(got) == 6
    for row in got:
        assert row["polarity"] in ("negative", "neutral", "positive")
        assert 0 <= row["sentiment"] <= 1 and 0 <= row["risk"] <= 1
        assert isinstance(row["categories"], list) and isinstance(row["negative_entities"], list)
    for row, original in zip([got[0], got[1], got[4], got[5]], rows, strict=True):
        assert {k: row[k] for k in original} == original
    assert got[0]["negative_entities"] == ["某银行"]
    assert got[2]["line"] == 3 and "not valid JSON" in got[2]["error"]
    assert got[3]["line"] == 4 and got[3]["id"] == "bad"
    assert got[4]["polarity"] == "neutral" and got[4]["risk"] == 0
    assert errors.read_text().splitlines()[0].startswith("line 3:")


def test_analyze_jsonl_bad_bytes_and_bom_cost_one_line_each(tmp_path: Path, analyzer: Analyzer) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes('\ufeff{"id": 1, "text": "服务不错"}\n'.encode() + b'{"id": 2, "text": "\xff\xfe"}\n\n'
                    + '{"id": 3, "text": "平台跑路了"}'.encode())
    with (tmp_path / "err.txt").open("w") as err:
        assert analyze_jsonl(src, out, analyzer, errors=err) == 4
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in got] == [1, None, None, 3]
    assert "not UTF-8" in got[1]["error"] and got[2]["line"] == 3 and "error" not in got[3]


def test_analyze_jsonl_unusable_input_raises(tmp_path: Path, analyzer: Analyzer) -> None:
    with pytest.raises(OSError):
        analyze_jsonl(tmp_path / "missing.jsonl", tmp_path / "out.jsonl", analyzer)


# --- training end to end ---------------------------------------------------------------------------------

def _training_data() -> Path | None:
    for candidate in (os.environ.get("YUQING_TRAIN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "finnsp_train.jsonl").is_file():
            return Path(candidate)
    return None


def test_training_command_reproduces_a_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _training_data()
    if data is None:
        pytest.skip("training data not found: set YUQING_TRAIN_DATA or put it at ../shared/data")
    from nlp.train import main

    args = ["sentiment", "--data", str(data), "--limit", "300", "--folds", "2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    figures = capsys.readouterr().out
    assert '"news_document_f1"' in figures and '"forum_ece_positive"' in figures
    for name in ("document.bin", "target.bin"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()  # seeded
    small = Analyzer([], {"model": str(tmp_path / "a")})
    result = small.analyze_batch([AnalysisInput("平台涉嫌诈骗，老板跑路", entities=["平台"])])[0]
    assert result.polarity in ("negative", "neutral", "positive") and 0 <= result.sentiment <= 1
    # The IDF-weighted, L2-normalised output scored in one pass at run time is the trained one.
    from nlp.train import _doc_feats, extra_rows, fit, load_forum, load_news
    news = load_news(data, 300)
    extra_forum, extra_news = extra_rows()  # the customer-voice rows, which `main` trains with
    trained = fit([*load_forum(data, 300), *extra_forum], [*news, *extra_news])
    model = SentimentModel.load(tmp_path / "a")
    run_time = [model._about_entity(model._document.scores(_doc_feats(r.doc))) for r in news[:40]]
    assert run_time == pytest.approx(list(trained.negative_scores(news[:40])), abs=1e-4)


@pytest.mark.parametrize("text, code", [
    ("这不是变相赖账吗", "default"),  # rhetorical: it affirms
    ("有没有被这家平台骗的", "fraud"),  # a question
    ("到期后不给我解押，说要续签", "contract"),  # a refusal is the complaint
    ("不过还是被骗走了两万", "fraud"),  # 不过 is "but"
    ("短信提醒每月收2元，我从来没开通过", "fees"),  # an alert, not a warning
])
def test_what_looks_like_negation_but_is_not(text: str, code: str) -> None:
    assert code in CategoryRules().find(text)


def test_the_keywords_pinyin_is_kept_for_the_next_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh = CategoryRules()._pinyin
    [kept] = tmp_path.glob("yuqing-pinyin-*.json")
    assert json.loads(kept.read_text(encoding="utf-8"))["催收"] == ["cui", "shou"]
    kept.write_text('{"催收": ["x"]}', encoding="utf-8")  # not the table of these keywords: made again
    assert CategoryRules()._pinyin == fresh and json.loads(kept.read_text(encoding="utf-8"))["催收"] == ["cui", "shou"]
    kept.write_text("{damaged", encoding="utf-8")
    assert CategoryRules()._pinyin == fresh
    extended = CategoryRules({"fees": {"keywords": ["年费太贵"]}})._pinyin  # other keywords, another file
    assert ("", "费太贵", "年费太贵") in extended["nian"] and len(list(tmp_path.glob("yuqing-pinyin-*.json"))) == 2


def test_a_keyword_with_a_character_in_pinyin_counts() -> None:
    rules = CategoryRules()
    assert rules.find("速易花的催shou太恶心了") == ["debt_collection"]
    assert rules.find("是不是要暴LEI了") == ["default"]
    assert rules.find("没有催shou") == []  # negated as the keyword would be
    assert rules.find("shou到短信") == [] and rules.find("账户login失败") == []


def test_probe_sets_a_and_c_are_training_rows_with_their_labels() -> None:
    """Probe sets A and C join the training of "negative about an entity" (`nlp.train.probe_rows`)
    as a reader labelled them; B and D, which the model card reports as unseen, never do."""
    from nlp.probeset import PROBES_B, PROBES_D, load_probes
    from nlp.train import PROBE_SOURCES, _entity_rows, probe_rows

    assert PROBES_B not in PROBE_SOURCES and PROBES_D not in PROBE_SOURCES
    probes = {normalize(p.text): p for path in PROBE_SOURCES for p in load_probes(path)}
    rows = probe_rows()
    assert 0.8 * len(probes) < len(rows) <= len(probes)
    for row in rows:
        probe = probes[row.doc.text]
        assert row.negative == (probe.polarity == "negative")
        assert {e for e, t in zip(row.doc.entities, row.targets, strict=True) if t} == set(probe.targets)
        assert not row.doc.named  # watched names are never name features
    # the bank where the victims kept their money is in the row, and is no target
    kept = next(r for r in rows if r.doc.text.startswith("受害人在锦程银行存的钱"))
    assert dict(zip(kept.doc.entities, kept.targets, strict=True)) == {"锦程银行": False, "金盛理财": True}
    assert _entity_rows(rows) == ([], [], [])  # the target model does not learn from them


def test_customer_voice_rows_cover_every_category_and_as_many_texts_that_are_not_complaints() -> None:
    """The project's own texts in customers' words (`nlp.train.voice_rows`): complaints of each
    category, as many that are not, none of them a probe (the probes stay evaluation)."""
    from nlp.probeset import PROBES_B, PROBES_D, PROBES_E, load_probes
    from nlp.sentiment import POLARITIES
    from nlp.train import PROBE_SOURCES, VOICE, _entity_rows, voice_rows

    raw = [json.loads(line) for line in VOICE.read_text(encoding="utf-8").splitlines()]
    forum, rows = voice_rows()
    # the forum model, which decides texts naming no watched institution, learns them too
    assert [POLARITIES[r.label] for r in forum] == [
        "negative" if r["negative"] else "positive" if r["kind"] in ("thanks", "praise") else "neutral" for r in raw]
    assert len(rows) == len(raw) >= 400 and len({r.doc.text for r in rows}) == len(rows)
    assert {r["kind"] for r in raw if r["negative"]} >= set(CATEGORY_LABELS)
    assert 0.4 < sum(not r.negative for r in rows) / len(rows) < 0.6
    for r, row in zip(raw, rows, strict=True):
        assert row.negative == r["negative"] == bool(r["negative_entities"]) and r["entities"]
        assert {e for e, t in zip(row.doc.entities, row.targets, strict=True) if t} == set(r["negative_entities"])
        assert not row.doc.named  # their institutions are watched ones: no name features
    # the bank where a victim kept the money is in the row, and is no target
    kept = [row for r, row in zip(raw, rows, strict=True) if r["kind"] == "kept"]
    assert kept and all(not all(row.targets) and any(row.targets) for row in kept)
    assert _entity_rows(rows) == ([], [], [])  # the target model does not learn from them
    probes = {normalize(p.text) for path in (*PROBE_SOURCES, PROBES_B, PROBES_D, PROBES_E) for p in load_probes(path)}
    assert not probes & {r.doc.text for r in rows}


def test_the_shipped_model_records_the_customer_voice_file_it_was_trained_on() -> None:
    import hashlib

    from nlp.train import VOICE, VOICE_WEIGHT

    (record,) = LinearModel.load(MODEL_DIR / "document.bin").meta["voice"]
    assert record == {"file": VOICE.name, "rows": len(VOICE.read_text(encoding="utf-8").splitlines()),
                      "sha256": hashlib.sha256(VOICE.read_bytes()).hexdigest(), "weight": VOICE_WEIGHT}


def test_training_with_probes_records_them(tmp_path: Path) -> None:
    data = _training_data()
    if data is None:
        pytest.skip("training data not found: set YUQING_TRAIN_DATA or put it at ../shared/data")
    import hashlib

    from nlp.train import PROBE_SOURCES, main

    assert main(["sentiment", "--data", str(data), "--limit", "200", "--folds", "2", "--with-probes",
                 "--out", str(tmp_path)]) == 0
    header = LinearModel.load(tmp_path / "document.bin").meta
    assert [(r["file"], r["sha256"]) for r in header["probes"]] == [
        (path.name, hashlib.sha256(path.read_bytes()).hexdigest()) for path in PROBE_SOURCES]
    assert "probes" not in LinearModel.load(MODEL_DIR / "document.bin").meta  # the shipped model has none
