"""Features shared by training and run time, so the shipped weights see what they were trained on.

Document features: character 1- to 3-grams and jieba words and word bigrams, together (see the
model card for what each adds on the held-back split). Words come from rjieba, the Rust port of
jieba with jieba's own dictionary and algorithm, which segments about ten times faster than jieba
itself, so `yuqing analyze` stays faster than bare jieba while using words.
Anything inside a negation scope (`nlp.negation`) is marked, so `不是骗子` yields `！骗子`, not
`骗子`, and the weight learnt for fraud talk does not fire. Entity names are replaced by a
placeholder first, so the model learns how people write about *an* institution, not which
ones were in the training data.

Entity features describe one entity in a text: the characters on each side of its mentions,
whether it is a part of a longer listed entity (`众车` inside `众车在线`), where it first appears,
how often, the kind of name it is (its last characters: 银行, 公司, 平台 ...) and the name itself.

Names as features (`name_features`, and the name in `entity_features`): one feature per whole
listed name, unmasked, so the P2P platforms that recur in the training news carry what was learnt
of them, while a name the model never saw contributes nothing (a whole-name feature, not its
characters or words, so an unseen name cannot borrow another's weight). The institutions a
deployment watches never get one (`Prepared.named` leaves them out), so a watched bank is judged
by how the text speaks of it, never by a prior learnt from 2019's news.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat

import numpy as np
import rjieba

from nlp.linear import KeyIndex
from nlp.negation import negated_mask
from nlp.normalize import DEFAULT_MAX_CHARS, normalize, normalize_name

# Full-width letters cannot survive normalisation (NFKC), so they never clash with real text.
PLACEHOLDER = "Ｅ"  # the entity being described (or any entity, in document features)
OTHER = "Ｏ"  # another listed entity
NEGATED = "！"  # full-width too: marks a gram inside a negation scope
WORD = "Ｗ"  # marks a word feature, so the word 好 and the character 好 are distinct features
COMPLAINT = "Ｋ"  # marks a complaint-evidence feature (`complaint_features`)
NAME = "Ｎ"  # marks a whole-name feature (`name_features`, and the name in `entity_features`)
NGRAMS = (1, 2, 3)
WINDOW = 6  # characters each side of a mention; 6, 10 and 16 were within 0.3 points in CV


def mask_entities(text: str, entities: Sequence[str], target: str | None = None) -> str:
    """Replace listed entity names, longest first, by a placeholder; with `target`, that one
    becomes PLACEHOLDER and the others OTHER (so `众车` inside `众车在线` is not `众车`'s mention)."""
    for name in sorted(entities, key=len, reverse=True):
        if name:
            text = text.replace(name, PLACEHOLDER if target is None or name == target else OTHER)
    return text


@dataclass(frozen=True)
class Prepared:
    text: str  # normalised
    entities: tuple[str, ...]  # normalised, non-empty, distinct, in the given order
    masked: str  # text with the entities replaced by PLACEHOLDER
    negated: bytearray  # negation scope over `masked`
    named: frozenset[str] = frozenset()  # the entities whose names are features (not the watched ones)


def prepare(text: str, entities: Sequence[str] = (), max_chars: int = DEFAULT_MAX_CHARS,
            watched: Collection[str] = ()) -> Prepared:
    """The one path from raw text to model input, used by training and by the analyzer;
    `watched`: names that never become features (the configured institutions and aliases)."""
    return prepare_clean(normalize(text, max_chars), entities, {normalize(w) for w in watched})


def prepare_clean(clean: str, entities: Sequence[str], watched: Collection[str] = ()) -> Prepared:
    """`prepare` for a text already normalised (the analyzer looks for institutions in it first);
    `watched` normalised too."""
    names = tuple(dict.fromkeys(n for n in map(normalize_name, entities) if n))
    masked = mask_entities(clean, names)
    return Prepared(clean, names, masked, negated_mask(masked), frozenset(n for n in names if n not in watched))


def name_features(doc: Prepared) -> list[str]:
    """One feature per listed name that is not watched (see the module docstring), in the
    listed order. With the name in the entity features too, at evidence 0 (model card): document
    F1 0.956 → 0.957 on the development part's CV and 0.950 → 0.960 held back, entity F1
    0.895 → 0.903 and 0.904 → 0.915."""
    return [NAME + n for n in doc.entities if n in doc.named]


def char_grams(text: str, mark: Sequence[str] = ()) -> list[str]:
    """Character 1-, 2- and 3-grams; with `mark` (one prefix per character), each gram gets the
    prefix of its first character."""
    mark = mark or [""] * len(text)
    return [mark[i] + text[i:i + n] for n in NGRAMS for i in range(len(text) - n + 1)]


def document_features(text: str, negated: bytearray) -> list[str]:
    """Character 1-, 2- and 3-grams of a normalised, entity-masked text, then its words (two
    characters or more) and word bigrams; a feature starting inside a negation scope gets the
    NEGATED prefix."""
    return char_grams(text, _marks(text, negated)) + word_features(text, negated)


def _marks(text: str, negated: bytearray) -> list[str]:
    return [NEGATED if m else "" for m in negated] if any(negated) else [""] * len(text)


def word_features(text: str, negated: bytearray) -> list[str]:
    """The words and word bigrams of `document_features`."""
    cut = rjieba.cut(text)
    # The words tile the text: where one starts is the length of those before it.
    starts = accumulate(map(len, cut), initial=0)
    marks = (NEGATED if negated[i] else "" for i in starts) if any(negated) else repeat("")
    words = [(w, mark) for w, mark in zip(cut, marks, strict=False) if not w.isspace()]
    grams = [f"{mark}{WORD}{w}" for w, mark in words if len(w) > 1]
    return grams + [f"{mark}{WORD}{a}{WORD}{b}" for (a, mark), (b, _) in zip(words, words[1:], strict=False)]


# Scoring looks the character grams of a text up by number, all at once (`LinearModel.find`), not
# as strings one by one: a gram of up to three characters is its code points, 21 bits each, with
# the top bit for NEGATED. A text without control characters (normalised) has no code point 0,
# so no two grams share a number.
_BITS = 21
_MARKED = np.uint64(1 << 63)
_WORDS = 1 << _BITS  # word numbers are below this (`DocumentNumbers`)
_UNKNOWN = np.uint64(_WORDS - 1)  # the number of a word in no word feature
_SPACE = re.compile(r"\s")


def gram_keys(text: str, negated: bytearray) -> np.ndarray:
    """The numbers of `char_grams(text, marks)` as `document_features` makes them, in that order."""
    return np.concatenate(_gram_keys(text, negated))


def _gram_keys(text: str, negated: bytearray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`gram_keys`' 1-, 2- and 3-grams."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    first = points | _marks_of(np.frombuffer(negated, dtype=np.uint8)) if _any(negated) else points
    two = first[:-1] | points[1:] << np.uint64(_BITS)
    return first, two, two[:-1] | points[2:] << np.uint64(2 * _BITS)


def _any(negated: bytearray) -> bool:
    return negated.count(0) != len(negated)


def _marks_of(negated: np.ndarray) -> np.ndarray:
    """The NEGATED bit of the numbers of grams or words starting where `negated` is."""
    return (negated != 0).astype(np.uint64) << np.uint64(63)


def feature_gram_keys(features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The number (as `gram_keys` gives it) of each feature that could be a character gram (one
    to three characters, perhaps after NEGATED), and its position in `features`."""
    return _gram_keys_of(*_code_points(features))


def _code_points(features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code points of `features`, each ended by a 0 (and padded with more), and where each
    starts and ends."""
    joined = "\x00".join(features) + "\x00"
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    ends = np.flatnonzero(points == 0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    return np.concatenate((points, np.zeros(max(NGRAMS), dtype=np.uint64))), starts, ends


def _gram_keys_of(padded: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    marked = (padded[starts] == ord(NEGATED)) & (ends - starts >= 2)
    starts = starts + marked
    length = ends - starts
    keep = (length >= 1) & (length <= max(NGRAMS))
    starts, length, marked = starts[keep], length[keep], marked[keep]
    key = padded[starts]
    for j in range(1, max(NGRAMS)):
        key |= np.where(length > j, padded[starts + j], 0).astype(np.uint64) << np.uint64(_BITS * j)
    key[marked] |= _MARKED
    return key, np.flatnonzero(keep)


class DocumentNumbers:
    """A document model's features by number (`index`): its character grams (`gram_keys`) and its
    words and word bigrams (`word_features`), so that a text's are found all at once (`keys`)
    instead of ~175 strings a text built and looked up one by one; its complaint and name features
    by name. The words of the model's word features are numbered from 1, below 2²¹: a word
    feature's number is its word's number shifted past a gram's first code point (its low 21 bits
    are 0, as no gram's are), a bigram's adds its second word's number above that, and the top bit
    marks NEGATED. A word of a text that is in no word feature gets a number none has (`_UNKNOWN`),
    so nothing it makes is found."""

    def __init__(self, features: Sequence[str]) -> None:
        padded, starts, ends = _code_points(features)
        first = padded[starts]
        marked = first == ord(NEGATED)
        # How many WORD marks each feature has: one for a word, two for a bigram.
        marks = np.bincount(np.searchsorted(starts, np.flatnonzero(padded == ord(WORD)), "right") - 1,
                            minlength=len(starts))
        length = ends - starts - marked
        at = np.flatnonzero((padded[starts + marked] == ord(WORD)) & (marks <= 2) & (length > 2 - (marks == 2)))
        pairs = marks[at] == 2
        words = "".join([features[i] for i in at.tolist()]).replace(NEGATED, "").split(WORD)[1:]
        distinct = dict.fromkeys(words)
        if len(distinct) >= _UNKNOWN:
            raise ValueError(f"more than {_UNKNOWN - 1} words in the word features")
        self._number = dict(zip(distinct, range(1, _WORDS), strict=False))
        ids = np.fromiter(map(self._number.__getitem__, words), dtype=np.uint64, count=len(words))
        firsts = np.cumsum(pairs) + np.arange(len(at)) - pairs  # where each feature's first word is in `words`
        seconds = np.where(pairs, ids[np.minimum(firsts + 1, len(ids) - 1)], 0) if len(ids) else ids
        word_keys = (ids[firsts] << np.uint64(_BITS) | seconds.astype(np.uint64) << np.uint64(2 * _BITS)
                     | marked[at].astype(np.uint64) << np.uint64(63))
        gram_keys_, gram_at = _gram_keys_of(padded, starts, ends)
        # Complaint and name features (found by name) and word features (`Ｗ好`) are no grams of a text.
        grams = ~np.isin(padded[starts + marked], [ord(COMPLAINT), ord(NAME), ord(WORD)])[gram_at]
        self.index = KeyIndex(features, np.concatenate((gram_keys_[grams], word_keys)),
                              np.concatenate((gram_at[grams], at)))

    def keys(self, text: str, negated: bytearray) -> np.ndarray:
        """The numbers of `document_features(text, negated)`' grams and word features, but for those
        with a word in no word feature of the model, in no particular order."""
        cut = rjieba.cut(text)
        # A word in no word feature gets a number no word feature has: a bigram with it has none.
        ids = np.fromiter(map(self._number.get, cut, repeat(_UNKNOWN)), dtype=np.uint64, count=len(cut))
        marks = np.zeros(0, dtype=np.uint64)
        if _any(negated):
            lengths = np.fromiter(map(len, cut), dtype=np.intp, count=len(cut))
            marks = _marks_of(np.frombuffer(negated, dtype=np.uint8)[np.cumsum(lengths) - lengths])
        if _SPACE.search(text):  # a word of spaces makes no feature, and the words on each side a bigram
            words = np.fromiter(map(str.isspace, cut), dtype=bool, count=len(cut))
            ids, marks = ids[~words], marks[~words[:len(marks)]]
        # A one-character word makes no word feature (`word_features`), so none is numbered.
        single = ids << np.uint64(_BITS)
        pairs = single[:-1] | ids[1:] << np.uint64(2 * _BITS)
        if len(marks):
            single, pairs = single | marks, pairs | marks[:-1]
        return np.concatenate((*_gram_keys(text, negated), single, pairs))


def complaint_features(keywords: Sequence[str], codes: Sequence[str]) -> list[str]:
    """The complaint rules' findings (`CategoryRules.assess`: keywords outside negation, none in a
    denial or a question, no fraud words in a text about preventing one) as document features, so
    the model learns how much each counts, instead of a hand-set weight: each category code, each
    keyword, and how many keywords (0, 1, 2, 3 or more). Cluster-grouped CV on finnsp's
    development part: document F1 0.942 → 0.957."""
    return ([f"{COMPLAINT}c{code}" for code in codes] + [f"{COMPLAINT}k{word}" for word in keywords]
            + [f"{COMPLAINT}n{min(len(keywords), 3)}"])


# Where a text names an institution only as the place money was kept or moved through, or as the
# name a fraudster used: `在Ｅ存的钱被甲公司骗走`, `从Ｅ账户转给`, `冒充Ｅ客服`, `冒用Ｅ的名义`,
# `用Ｅ的手机银行转给`, `通过Ｅ、Ｏ转账` (sixth probe round, on sets A–E).
_HELD_AT = f"(?:冒充|假冒|冒用|自称|存在|存入|在|从|用|的|把|通过|向|打开){PLACEHOLDER}"
_HOLDING = re.compile(f"{_HELD_AT}(?:[、和与]{OTHER})*等?"
                      f"(?:存|取|贷款|的?网银|的?手机银行|的app|的APP|柜台|的存款|的定期|的养老钱|的钱|的卡|卡里|卡|"
                      f"的?信用卡|的?储蓄卡|的?借记卡|的?资金账户|账户|的账户|的?名义|退保|转账|汇款|"
                      f"客服|工作人员|的客服)|(?:冒充|假冒|冒用|自称){PLACEHOLDER}|(?:用|打开){PLACEHOLDER}(?:app|APP)|"
                      f"{OTHER}[、和与]{PLACEHOLDER}等?(?:账户|的账户|卡|转账)")


def only_holds_money(text: str, entity: str, entities: Sequence[str]) -> bool:
    """At least half the mentions of `entity` in `text` are as the place money was kept or as a
    borrowed name (`_HOLDING`): a text negative about a fraud is not negative about the victim's
    bank, which it may name again (`泰和银行说他们从不会打这种电话`)."""
    masked = mask_entities(text, entities, target=entity)
    count = masked.count(PLACEHOLDER)
    return count > 0 and 2 * len(_HOLDING.findall(masked)) >= count


# Masked for one target, a text is its `Prepared.masked` with the other entities' PLACEHOLDER
# turned OTHER, so where neither of these is in `Prepared.masked`, `_HOLDING` finds nothing.
_MAY_HOLD = re.compile(f"{_HELD_AT}|{PLACEHOLDER}[、和与]{PLACEHOLDER}")


def may_hold_money(masked: str) -> bool:
    """False where `only_holds_money` is false for every entity of a text (`Prepared.masked`):
    1,068 of the 1,457 benchmark posts with entities skip the check (`bench_analyze.py --entities`)."""
    return _MAY_HOLD.search(masked) is not None


# A denial of bad news, or a statement that what was rumoured did not happen (辟谣：, 澄清：, 网传…系伪造,
# 回应称…并未, 否认…, 都是瞎传, 产品均正常兑付): the words must deny, not name a rumour (散布谣言 is news of
# who spread one, 未完全辟谣 denies nothing, 否认责任 is the bad news, 伪造 alone a forged signature, 是假的
# an accusation, 宣称 a claim, 虚假不实宣传 a complaint, 一个公告都没有 the want of a statement). No
# alternative starts with a lookbehind, so that the search only tries where one of their first characters
# is (8.8 → 5.6 µs a post for `denies`).
_DENIAL = re.compile(r"辟谣(?<!未辟谣)(?<!完全辟谣)[:：｜|]|(?:官方|公司|方面|已|发布|发文|发声明|正式)辟谣|"
                     r"澄清(?:[:：]|公告|声明|说明)|不属实|(?:消息|传闻|传言|说法|报道|通知)不实|"
                     r"(?:系|纯属)(?:谣言|不实|伪造|误读|误传|捏造|PS)|(?:是|为)谣言|为假(?![^，。,]{0,2}的)|纯属捏造|子虚乌有|并无此事|"
                     r"(?:并未|并没有|不存在)[^。！？!?\n]{0,6}(?:网传|传闻|传言)|否认(?![^，。,]{0,4}责任)|"
                     r"(?:回应|表示|声明|称(?<![宣号]称)|公告|强调)(?![都也]没)[^。！？!?\n]{0,20}?"
                     r"(?:并未|并没有|没有|从未|从没|不存在|并不存在|并非|不涉及|未发现|一切正常|均正常|正常运[作营转]|正常兑付|不实|"
                     r"资金安全|系客户本人)")
# The writer speaking for themself (not 我司, 我行: an institution's own statement).
_FIRST_PERSON = re.compile(r"我(?![司行])|俺|本人")
# Where a denial is the text's news: its headline or first sentences, not one fact among many in
# a long article.
DENIAL_CHARS = 60


# Looser wordings that deny only in a complaint's register (说瑞丰要倒闭的都是瞎传, 提现正常到账, 与本行无关,
# 不像网上说的那么难, 别被带节奏, 罚单图片是P的):
# news of 造谣者 or of a platform "一直正常" that failed is the bad news, so they are no reported denial.
_DISMISSAL = re.compile(f"{_DENIAL.pattern}|造谣|瞎传|(?:均|一切|运作|运营|办理|提现|兑付|取款)正常|正常到账|"
                        r"与[^，。,]{0,8}无关|不像网上说的|(?:跟|和)网上说的不一样|别被[^，。,]{0,4}带节奏|别信网上|"
                        r"别听那些|是P的")


def denies(masked: str) -> bool:
    """Whether a text denies or dismisses bad news anywhere in it (`_DENIAL`, `_DISMISSAL`): the
    complaint it names is the one it denies (`nlp.categories.CategoryRules.assess` then finds no
    complaint in it)."""
    return bool(_DISMISSAL.search(masked))


def reported_denial(masked: str) -> bool:
    """Whether an entity-masked text reports a denial of bad news (`_DENIAL`) near its start and is
    not in the writer's own voice (`远帆证券声明：网传我司资管产品无法兑付的消息不实`,
    `辟谣｜康泽人寿并未被监管处罚`): the bad news it names is what it denies. finnsp labels such news
    by the news denied, so the models cannot learn this (`nlp.sentiment.decide` applies it)."""
    return bool(_DENIAL.search(masked, 0, DENIAL_CHARS)) and not _FIRST_PERSON.search(masked)


def _bucket(value: float, edges: Sequence[float]) -> int:
    """How many of the (ascending) edges `value` reaches."""
    return bisect_right(edges, value)


def entity_features(text: str, entity: str, entities: Sequence[str], title: str = "",
                    named: Collection[str] = ()) -> list[str]:
    """Features of `entity` within `text` (normalised); `entities` are all the listed ones, and
    `named` those whose names are features (`Prepared.named`)."""
    longer = [o for o in entities if o != entity and entity in o]
    shorter = [o for o in entities if o != entity and o in entity]
    others = [o for o in entities if o != entity and o not in longer and o not in shorter]
    masked = mask_entities(text, entities, target=entity)
    feats = [f"sub{bool(longer)}", f"sup{bool(shorter)}", f"others{_bucket(len(others), (1, 2, 4))}",
             f"suf2{entity[-2:]}", f"suf1{entity[-1:]}", f"len{_bucket(len(entity), (3, 4, 6, 9))}"]
    if entity in named:
        feats.append(NAME + entity)
    count = masked.count(PLACEHOLDER)
    feats.append(f"n{_bucket(count, (1, 2, 3, 5))}")
    if count == 0:
        return feats
    first = masked.find(PLACEHOLDER)
    feats.append(f"pos{_bucket(first / len(masked), (0.05, 0.2, 0.5))}")
    feats.append(f"title{entity in title}")
    # Windows around each mention, taken from the masked text where the entity is the placeholder.
    at = 0
    while (i := masked.find(PLACEHOLDER, at)) >= 0:
        at = i + 1
        left, right = masked[max(0, i - WINDOW):i], masked[i + 1:i + 1 + WINDOW]
        feats += [f"L{a}{b}" for a, b in zip(left, left[1:], strict=False)]
        feats += [f"R{a}{b}" for a, b in zip(right, right[1:], strict=False)]
        feats += ["l1" + left[-1:], "r1" + right[:1], "l2" + left[-2:], "r2" + right[:2]]
    return feats
