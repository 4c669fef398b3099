"""Complaint categories: keyword rules with negation, documented and configurable.

Each category has a code (stable, used in storage, alerts and config), a Chinese label for
reports, keywords, and a severity (0..1) used by the risk score. A keyword counts only when it is
not inside a negation scope (`nlp.negation`): `并未逾期` does not make a post `default`.

The `nlp.categories` config section adds to or replaces the built-in rules:

    nlp:
      categories:
        fees: {keywords: [年费, 账户管理费]}            # added to the built-in fee keywords
        default: {keywords: [展期], replace: true}      # replaces them
        esg: {label: 环境社会治理, keywords: [污染], severity: 0.3}   # a new category
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nlp.negation import negated_mask
from yuqing.config import ConfigError

CATEGORY_LABELS: dict[str, str] = {
    "fraud": "诈骗/非法集资",
    "debt_collection": "暴力催收",
    "mis_selling": "误导销售/理财亏损",
    "default": "逾期/兑付/暴雷",
    "fees": "乱收费",
    "account_funds": "账户与资金问题",
    "data_leak": "信息泄露",
    "contract": "合同纠纷",
    "service": "服务质量",
    "penalty": "监管处罚",
}

_BUILTIN: dict[str, tuple[float, tuple[str, ...]]] = {
    "fraud": (1.0, ("诈骗", "骗子", "骗局", "骗钱", "被骗", "非法集资", "非法吸收公众存款", "集资诈骗", "传销",
                    "庞氏", "跑路", "卷款", "圈钱", "套路贷", "资金盘", "涉嫌犯罪", "立案侦查", "经侦")),
    "debt_collection": (0.9, ("暴力催收", "催收", "爆通讯录", "威胁", "恐吓", "骚扰电话", "骚扰家人",
                              "骚扰亲友", "辱骂", "上门催", "P图")),
    "mis_selling": (0.7, ("误导销售", "误导", "虚假宣传", "夸大收益", "承诺保本", "保本保息", "飞单", "理财亏损",
                          "亏损", "巨亏", "本金亏", "隐瞒风险", "强制搭售", "搭售", "捆绑销售")),
    "default": (0.9, ("逾期", "兑付困难", "无法兑付", "延期兑付", "暴雷", "爆雷", "违约", "提现困难", "无法提现",
                      "不能提现", "清盘", "良性退出", "停业", "倒闭", "挤兑", "展期")),
    "fees": (0.5, ("乱收费", "高利贷", "砍头息", "手续费", "服务费", "管理费", "年费", "违约金", "滞纳金",
                   "高额利息", "乱扣费", "扣费")),
    "account_funds": (0.8, ("冻结", "盗刷", "被盗", "资金被转", "账户异常", "无法取款", "取不出", "扣款", "被扣",
                            "转账失败", "限额", "销户")),
    "data_leak": (0.8, ("信息泄露", "泄露", "泄漏", "个人信息", "隐私", "征信被查", "倒卖信息", "数据泄露")),
    "contract": (0.5, ("合同纠纷", "协议纠纷", "起诉", "诉讼", "仲裁", "法院", "判决", "拒赔", "理赔纠纷",
                       "霸王条款")),
    "service": (0.3, ("服务差", "态度差", "态度恶劣", "服务态度", "投诉", "排队", "推诿", "不理睬", "客服",
                      "无人接听", "踢皮球", "刁难")),
    "penalty": (0.8, ("罚款", "罚单", "处罚", "行政处罚", "监管处罚", "警示函", "通报批评", "责令整改", "吊销",
                      "被罚", "没收违法所得")),
}
DEFAULT_SEVERITY = 0.5
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    severity: float
    keywords: tuple[str, ...]


class CategoryRules:
    """Finds complaint categories in a normalised text."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        cats = {code: Category(code, CATEGORY_LABELS[code], sev, kws) for code, (sev, kws) in _BUILTIN.items()}
        for code, spec in (overrides or {}).items():
            cats[code] = _override(cats.get(code), code, spec)
        self.categories = cats
        owner: dict[str, set[str]] = {}
        for cat in cats.values():
            for kw in cat.keywords:
                owner.setdefault(kw, set()).add(cat.code)
        self._owner = owner
        self._pattern = re.compile("|".join(map(re.escape, sorted(owner, key=len, reverse=True))))

    @property
    def labels(self) -> dict[str, str]:
        return {c.code: c.label for c in self.categories.values()}

    def matches(self, text: str, negated: bytearray | None = None) -> list[str]:
        """The distinct keywords found outside a negation scope, in order of first occurrence."""
        mask = negated if negated is not None else negated_mask(text)
        hits: dict[str, None] = {}
        for m in self._pattern.finditer(text):
            # Negated when a scope opened before the keyword runs into it; a keyword that is itself
            # a negation (不能提现, 无人接听) opens its own scope and still counts.
            at = m.start()
            if not (at and mask[at] and mask[at - 1]):
                hits[m.group()] = None
        return list(hits)

    def codes(self, keywords: list[str]) -> list[str]:
        """The categories of `matches` keywords, in the built-in order."""
        found = {code for kw in keywords for code in self._owner[kw]}
        return [code for code in self.categories if code in found]

    def find(self, text: str, negated: bytearray | None = None) -> list[str]:
        """Category codes whose keywords occur outside a negation scope, in the built-in order."""
        return self.codes(self.matches(text, negated))

    def severity(self, codes: list[str]) -> float:
        return max((self.categories[c].severity for c in codes), default=0.0)

    def evidence(self, keywords: list[str], weight: float) -> float:
        """How much the complaint keywords found count towards "negative", 0..1: a noisy-OR over
        the distinct keywords, each worth `weight` × its category's severity, so that a post
        naming several complaints (催收 … 暴力催收, 乱收年费 … 投诉) counts more than one that
        mentions a fee once."""
        keep = 1.0
        for kw in keywords:
            keep *= 1 - weight * self.severity(sorted(self._owner[kw]))
        return 1 - keep


def _override(base: Category | None, code: str, spec: Any) -> Category:
    key = f"nlp.categories.{code}"
    if not _CODE.match(str(code)):
        raise ConfigError("nlp", key, "a category code must be lower-case letters, digits and _")
    if not isinstance(spec, Mapping):
        raise ConfigError("nlp", key, "must be a mapping with keywords (and label, severity, replace)")
    unknown = sorted(set(spec) - {"label", "keywords", "severity", "replace"})
    if unknown:
        raise ConfigError("nlp", f"{key}.{unknown[0]}", "unknown key (allowed: keywords, label, replace, severity)")
    keywords = spec.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise ConfigError("nlp", f"{key}.keywords", "must be a list of non-empty strings")
    label = spec.get("label", base.label if base else None)
    if not isinstance(label, str) or not label.strip():
        raise ConfigError("nlp", f"{key}.label", "a new category needs a label (the name shown in reports)")
    severity = spec.get("severity", base.severity if base else DEFAULT_SEVERITY)
    if isinstance(severity, bool) or not isinstance(severity, (int, float)) or not 0 <= severity <= 1:
        raise ConfigError("nlp", f"{key}.severity", f"must be a number from 0 to 1, got {severity!r}")
    replace = spec.get("replace", False)
    if not isinstance(replace, bool):
        raise ConfigError("nlp", f"{key}.replace", f"must be true or false, got {replace!r}")
    kept = () if replace or base is None else base.keywords
    merged = tuple(dict.fromkeys([*kept, *(k.strip() for k in keywords)]))
    if not merged:
        raise ConfigError("nlp", f"{key}.keywords", "a category needs at least one keyword")
    return Category(code, label.strip(), float(severity), merged)
