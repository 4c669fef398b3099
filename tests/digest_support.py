"""A realistic generated month for the digest tests: two banks over five ISO weeks (2026-W06 to
W10), posts from Weibo, 黑猫投诉, 股吧 and a news feed in every polarity, a burst of fee and
debt-collection complaints against the first bank in the last week with a viral post and its
reposts, one story told in several wordings, praise that mentions fraud (never negative), a
hostile title, and the alerts and negative cases of that week in each state.

Polarity, categories and risk are given, as an analyst would have labelled them (the digest must
not depend on how well the current model reads a text); keywords come from the real extractor
(`nlp.keywords.keywords`, without the names excluded, so the digest's own filtering is tested).
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from nlp.keywords import keywords
from yuqing.alertstore.base import AlertStore
from yuqing.alertstore.model import Alert, AlertRecord
from yuqing.cases import open_case, update_case
from yuqing.model import Mention

SHANGHAI = ZoneInfo("Asia/Shanghai")
BANK, OTHER = "招商银行", "平安银行"
MONTH_START = datetime(2026, 2, 2, tzinfo=SHANGHAI)  # Monday of 2026-W06
LAST_WEEK = datetime(2026, 3, 2, tzinfo=SHANGHAI)  # Monday of 2026-W10
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)  # the Tuesday after
PRAISE = "感谢{bank}柜员帮我拦下了一笔诈骗转账"
HOSTILE = "<script>alert('digest')</script>{bank}乱扣费"
VIRAL = "{bank}信用卡莫名扣了三百元年费，客服推诿不退"

SOURCES = [("weibo-search", "weibo"), ("heimao", "heimao"), ("guba", "guba"), ("finance-news", "")]
COMPLAINTS = [
    ("fees", "{bank}乱收费，账户管理费每月扣十元，从没通知过", 0.55),
    ("debt_collection", "{bank}信用卡中心暴力催收，天天打电话骚扰我的家人和同事", 0.85),
    ("mis_selling", "在{bank}买的理财亏了百分之八，客户经理当初承诺保本", 0.7),
    ("account_funds", "{bank}的账户突然被冻结，工资取不出来，网点说等通知", 0.75),
    ("service", "{bank}网点排队两个小时，柜员态度恶劣，投诉也没人理", 0.35),
]
NEUTRAL = ["{bank}发布年度报告，零售贷款余额同比增长", "{bank}调整部分存款产品利率", "{bank}上线新版手机银行"]
POSITIVE = ["{bank}的客服很耐心，问题当天就解决了", "{bank}新出的联名卡权益不错", PRAISE]
# one story, told differently by different people
STORY = ["{bank}信用卡中心暴力催收，天天打电话骚扰家人，太过分了",
         "{bank}信用卡中心暴力催收，天天打电话骚扰家人，已经报警",
         "{bank}信用卡中心暴力催收，天天打电话骚扰家人和同事，求曝光",
         "{bank}信用卡中心又在暴力催收，天天打电话骚扰家人，怎么投诉"]


@cache
def _keywords(text: str) -> tuple[str, ...]:
    """The real extractor, once per distinct text (the generator repeats its templates)."""
    return tuple(keywords(text, 5))


def _mention(rnd: random.Random, n: int, when: datetime, bank: str, polarity: str, text: str,
             category: str = "", risk: float = 0.0, **extra: object) -> Mention:
    source, platform = SOURCES[n % len(SOURCES)]
    title = text.split("，")[0]
    return Mention(url=f"https://{source}.example/post/{bank}-{n}", source=source, platform=platform,
                   title=title, content=text, published_at=when, institutions=[bank], polarity=polarity,
                   sentiment=0.1 if polarity == "negative" else 0.5 if polarity == "neutral" else 0.9,
                   negative_entities=[bank] if polarity == "negative" else [],
                   categories=[category] if category else [], risk=round(risk + rnd.uniform(-0.05, 0.05), 3)
                   if risk else 0.0, engagement=rnd.randint(0, 400), keywords=list(_keywords(text)),
                   **extra)  # type: ignore[arg-type]


def month(scale: int = 1) -> list[Mention]:
    """The month; `scale` multiplies the everyday posts (the benchmark's larger volumes)."""
    rnd = random.Random(14)
    out: list[Mention] = []
    n = 0
    for day in range(35):
        start = MONTH_START + timedelta(days=day)
        last_week = start >= LAST_WEEK
        for bank in (BANK, OTHER):
            burst = last_week and bank == BANK
            per_day = (rnd.randint(4, 7) + (6 if burst else 0)) * scale
            for _ in range(per_day):
                n += 1
                when = start + timedelta(hours=rnd.randint(7, 22), minutes=rnd.randint(0, 59))
                roll = rnd.random()
                if roll < (0.55 if burst else 0.2):
                    # the burst is fees and debt collection
                    category, text, risk = COMPLAINTS[rnd.choice([0, 1]) if burst else rnd.randrange(5)]
                    out.append(_mention(rnd, n, when, bank, "negative", text.format(bank=bank), category, risk))
                elif roll < 0.75:
                    out.append(_mention(rnd, n, when, bank, "neutral", rnd.choice(NEUTRAL).format(bank=bank)))
                else:
                    out.append(_mention(rnd, n, when, bank, "positive", rnd.choice(POSITIVE).format(bank=bank)))
    wed = LAST_WEEK + timedelta(days=2, hours=9)
    viral = _mention(rnd, 10_001, wed, BANK, "negative", VIRAL.format(bank=BANK), "fees", 0.95)
    viral.engagement = 12_000
    out.append(viral)
    out += [_mention(rnd, 10_010 + i, wed + timedelta(minutes=20 * i), BANK, "negative",
                     "转发 " + VIRAL.format(bank=BANK), "fees", 0.9, repost_of=viral.id) for i in range(6)]
    out += [_mention(rnd, 10_100 + i, LAST_WEEK + timedelta(days=3, hours=8 + i), BANK, "negative",
                     text.format(bank=BANK), "debt_collection", 0.8) for i, text in enumerate(STORY)]
    out.append(_mention(rnd, 10_200, LAST_WEEK + timedelta(days=4, hours=10), BANK, "positive",
                        PRAISE.format(bank=BANK) + "，真的太感谢了"))
    hostile = _mention(rnd, 10_300, LAST_WEEK + timedelta(days=5, hours=11), OTHER, "negative",
                       HOSTILE.format(bank=OTHER), "fees", 0.99)
    hostile.url = "javascript:alert('link')"
    out.append(hostile)
    return out


def _record(bank: str, started: datetime, severity: str, count: int, state: str = "firing",
            acknowledged: timedelta | None = None, resolved: timedelta | None = None, by: str = "") -> AlertRecord:
    alert = Alert(rule="negative-spike", institution=bank, polarity="negative",
                  bucket_start=started - timedelta(hours=1), bucket_end=started, count=count, baseline=2.0,
                  score=0.99, created_at=started, severity=severity)
    return AlertRecord(id=alert.id, rule=alert.rule, institution=bank, severity=severity, state=state,
                       started_at=started, updated_at=started + (resolved or acknowledged or timedelta(0)),
                       last_seen_at=started, latest=alert, acknowledged_by=by,
                       acknowledged_at=started + acknowledged if acknowledged else None,
                       resolved_at=started + resolved if resolved else None)


def alerts() -> list[AlertRecord]:
    """The last week's alerts: one handled in time, one left unaccepted (overdue by NOW), and one
    at the other bank accepted late."""
    return [
        _record(BANK, LAST_WEEK + timedelta(days=1, hours=10), "预警", 9, "resolved",
                acknowledged=timedelta(hours=3), resolved=timedelta(days=2), by="张三"),
        _record(BANK, LAST_WEEK + timedelta(days=3, hours=15), "紧急", 14),
        _record(OTHER, LAST_WEEK + timedelta(days=4, hours=9), "关注", 5, "acknowledged",
                acknowledged=timedelta(hours=50), by="李四"),
    ]


def cases(store: AlertStore, mentions: list[Mention]) -> None:
    """Negative cases of the last week, through the web app's operations: the viral post accepted
    and answered in time, a debt-collection story never accepted (overdue by NOW), and one at the
    other bank accepted, its answer not due yet."""
    viral = next(m for m in mentions if m.engagement == 12_000)
    story = next(m for m in mentions if m.url.endswith("-10100"))
    hostile = next(m for m in mentions if m.url.startswith("javascript:"))
    opened = viral.published_at + timedelta(hours=1)
    case = open_case(store, viral.id, viral.title, BANK, "analyst", opened, handler="王五")
    update_case(store, case.id, "王五", opened + timedelta(hours=2), status="in_progress")
    update_case(store, case.id, "王五", opened + timedelta(days=1), response="已退还年费并致歉", status="answered")
    open_case(store, story.id, story.title, BANK, "analyst", story.published_at + timedelta(hours=1), handler="赵六")
    late = open_case(store, hostile.id, hostile.title, OTHER, "analyst", hostile.published_at - timedelta(days=1))
    update_case(store, late.id, "李四", late.opened_at + timedelta(hours=3), status="in_progress")
