"""Repost and near-duplicate grouping (`yuqing.groups`): precision and recall on labelled pairs,
against a plain baseline (exact match of the normalised text) in the same run, and throughput.

    .venv/bin/python benchmarks/bench_dedup.py [--data DIR] [--pairs 300] [--seed 0]

The pairs are built from the real texts of the finnsp training file (Weibo posts, news, forum posts
about financial companies; `--data`, default $YUQING_TRAIN_DATA or ../shared/data; never copied into
this repository), the way copies of one story reach a monitoring service:

- copies (label 1): a Weibo repost chain (`评论//@用户:评论//@用户:原文`), a forward label
  (`转发：`, `【转】`, `转自@…：`), a copy-paste with a few characters edited, cut, or a
  tail added (`求扩散！`), a news story re-published with an outlet's prefix and its last sentence cut;
- different stories (label 0): two different texts naming the same company; two different texts
  carrying the same boilerplate (an outlet's disclaimer, a Weibo topic line); one wire story with
  the company's name changed (the same penalty notice about two companies is two stories).

A "different stories" pair drawn at random is dropped when difflib finds the two texts more than
half alike (finnsp holds real copies of its own, which would be mislabelled), so that label does
not rest on the method being measured. Each pair goes through the real code: a fresh group index
(`Groups`, a SQLite file), the first text grouped, then the second; a pair is called a copy when
the second joins the first's group. Reposts that Weibo links by `repost_of` join trivially: here
the chains carry no `repost_of`, so the text alone must do it (a chain copied from another site).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nlp.clusters import SHINGLE, comparable_text, signature  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from yuqing.groups import THRESHOLD, Groups, similarity  # noqa: E402
from yuqing.model import Mention  # noqa: E402

USERS = ["维权小李", "锦鲤附体2023", "理财踩坑记", "金融观察员", "吃瓜群众甲", "被催收的打工人", "财经老王",
         "小小投资人"]
COMMENTS = ["", "", "转发微博", "同遭遇", "太坑了", "求扩散", "支持维权", "我也是", "气死了，必须曝光", "关注"]
PREFIXES = ["转发：", "【转】", "转自@财经网：", "转：", "#维权# 转发：", "【转载】"]
TAILS = ["求扩散！", "大家评评理", "！！！", "（转自微博）", "有同样遭遇的私信我", " 来源：网络"]
OUTLETS = ["新浪财经讯", "【财经网】", "中新网报道，", "据澎湃新闻报道，", "【每日经济新闻】"]
BOILERPLATE = ["（本文来源：东方财富网，责任编辑：王晓）免责声明：本文仅代表作者个人观点，与本站无关，"
               "其原创性以及文中陈述文字和内容未经本站证实，对本文以及其中全部或者部分内容、文字的真实性、"
               "完整性、及时性本站不作任何保证或承诺。",
               "#金融维权[超话]##曝光台[超话]# 请大家帮忙转发扩散，让更多人看到，让相关部门重视起来！！"
               "@中国银保监会 @人民日报"]
FILLER = "，。的了是在有和"


@dataclass
class Pair:
    a: str
    b: str
    a_institutions: tuple[str, ...]
    b_institutions: tuple[str, ...]
    copy: bool
    kind: str


def _edit(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(chars))
        action = rnd.choice(("substitute", "delete", "insert"))
        if action == "substitute":
            chars[i] = rnd.choice(FILLER)
        elif action == "delete" and len(chars) > 20:
            del chars[i]
        else:
            chars.insert(i, rnd.choice(FILLER))
    edited = "".join(chars)
    if rnd.random() < 0.3:
        edited = edited[:int(len(edited) * rnd.uniform(0.85, 0.95))]
    return edited + (rnd.choice(TAILS) if rnd.random() < 0.4 else "")


def _chain(text: str, rnd: random.Random) -> str:
    hops = "".join(f"{rnd.choice(COMMENTS)}//@{rnd.choice(USERS)}:" for _ in range(rnd.randint(1, 3)))
    return rnd.choice(COMMENTS) + hops + text


def _headline(text: str, rnd: random.Random) -> str:
    sentences = [s for s in text.replace("！", "。").split("。") if s]
    body = "。".join(sentences[:-1]) + "。" if len(sentences) > 2 else text[:int(len(text) * 0.85)]
    return rnd.choice(OUTLETS) + body


def _opening(text: str) -> str:
    return text.replace("！", "。").split("。")[0][:60]


def _distinct(a: str, b: str) -> bool:
    ca, cb = comparable_text(a), comparable_text(b)
    return ca != cb and difflib.SequenceMatcher(None, ca, cb, autojunk=False).ratio() < 0.5


def build_pairs(data: Path, total: int, seed: int) -> list[Pair]:
    rows = [json.loads(line) for line in (data / "finnsp_train.jsonl").open(encoding="utf-8")]
    rnd = random.Random(seed)
    texts = [(r["text"].strip(), tuple(e for e in r["entities"] if e in r["text"])) for r in rows]
    texts = [(t, e) for t, e in texts if 30 <= len(comparable_text(t)) and e]
    rnd.shuffle(texts)
    by_entity: dict[str, list[int]] = defaultdict(list)
    for i, (_, entities) in enumerate(texts):
        for e in entities:
            by_entity[e].append(i)
    shares = {"chain": 0.12, "chain-comment": 0.08, "forward": 0.1, "edit": 0.2, "headline": 0.1,
              "same-company": 0.12, "same-company-close": 0.12, "boilerplate": 0.08, "other-company": 0.08}
    makers: dict[str, Callable[[str, random.Random], str]] = {
        "chain": _chain, "forward": lambda t, r: r.choice(PREFIXES) + t, "edit": _edit, "headline": _headline,
        # The reposter says something of their own first: a sentence of another real post.
        "chain-comment": lambda t, r: _chain(t, r).replace("//@", _opening(r.choice(texts)[0]) + "//@", 1)}
    pairs: list[Pair] = []
    pool = iter(texts)
    for kind, share in shares.items():
        wanted = round(total * share)
        made = 0
        while made < wanted:
            text, entities = next(pool)
            if kind in makers:
                pairs.append(Pair(text, makers[kind](text, rnd), entities, entities, True, kind))
            elif kind.startswith("same-company"):
                others = [j for j in by_entity[rnd.choice(entities)] if texts[j][0] != text]
                if kind == "same-company-close":  # the most alike of 30 posts about the company: one 超话, one spam
                    others = sorted(rnd.sample(others, min(30, len(others))),
                                    key=lambda j: -_jaccard(text, texts[j][0]))
                else:
                    rnd.shuffle(others)
                other = next((j for j in others[:30] if _distinct(text, texts[j][0])), None)
                if other is None:
                    continue
                pairs.append(Pair(text, texts[other][0], entities, texts[other][1], False, kind))
            elif kind == "boilerplate":
                other, other_entities = next(pool)
                if not _distinct(text, other):
                    continue
                tail = rnd.choice(BOILERPLATE)
                pairs.append(Pair(text[:150] + tail, other[:150] + tail, entities, other_entities, False, kind))
            else:
                rivals = [e for e in by_entity if len(e) >= 3 and not any(e in x or x in e for x in entities)]
                renamed, names = text, []
                for name in sorted(entities, key=len, reverse=True):
                    if name in renamed:
                        names.append(rnd.choice(rivals))
                        renamed = renamed.replace(name, names[-1])
                pairs.append(Pair(text, renamed, entities, tuple(names), False, kind))
            made += 1
    return pairs


def _mention(i: int, text: str, institutions: Sequence[str]) -> Mention:
    m = Mention(url=f"https://example.org/p/{i}", source="bench", content=text, published_at=datetime.now(timezone.utc))
    m.institutions = list(institutions)
    return m


def grouped(pairs: Sequence[Pair], threshold: float, folder: Path) -> list[bool]:
    """Through the real index: a fresh one per pair, the first text, then the second."""
    out = []
    for n, p in enumerate(pairs):
        groups = Groups(folder / f"{threshold}-{n}.db", signature, threshold=threshold)
        first, second = _mention(2 * n, p.a, p.a_institutions), _mention(2 * n + 1, p.b, p.b_institutions)
        groups.group([first])
        groups.group([second])
        groups.close()
        out.append(second.group_id == first.id)
    return out


def scores(predicted: Sequence[bool], pairs: Sequence[Pair]) -> tuple[float, float, float]:
    tp = sum(p and q.copy for p, q in zip(predicted, pairs, strict=True))
    fp = sum(p and not q.copy for p, q in zip(predicted, pairs, strict=True))
    fn = sum(not p and q.copy for p, q in zip(predicted, pairs, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _jaccard(a: str, b: str) -> float:
    def shingles(t: str) -> set[str]:
        return {t[i:i + SHINGLE] for i in range(max(1, len(t) - SHINGLE + 1))}
    sa, sb = shingles(comparable_text(a)), shingles(comparable_text(b))
    return len(sa & sb) / len(sa | sb)


def throughput(data: Path, folder: Path, count: int) -> tuple[float, float]:
    """Mentions per second: the real grouping (signature, index lookup and write, batches of 20 as
    the crawl's pipeline hands them over) and the exact-match baseline (a dict of normalised texts)."""
    rows = [json.loads(line) for line in (data / "finnsp_train.jsonl").open(encoding="utf-8")][:count]
    mentions = [_mention(i, r["text"], r["entities"]) for i, r in enumerate(rows)]
    groups = Groups(folder / "throughput.db", signature)
    start = time.perf_counter()
    for i in range(0, len(mentions), 20):
        groups.group(mentions[i:i + 20])
    grouping = len(mentions) / (time.perf_counter() - start)
    groups.close()
    start = time.perf_counter()
    first: dict[str, str] = {}
    for m in mentions:
        m.group_id = first.setdefault(normalize(m.text), m.id)
    exact = len(mentions) / (time.perf_counter() - start)
    return grouping, exact


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("YUQING_TRAIN_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throughput", type=int, default=3999, help="mentions timed for throughput")
    args = parser.parse_args(argv)
    if not (args.data / "finnsp_train.jsonl").is_file():
        print(f"bench_dedup: {args.data}/finnsp_train.jsonl not found (give --data DIR)", file=sys.stderr)
        return 2
    pairs = build_pairs(args.data, args.pairs, args.seed)
    kinds = sorted({p.kind for p in pairs}, key=[p.kind for p in pairs].index)
    copies = sum(p.copy for p in pairs)
    print(f"{len(pairs)} pairs: {copies} copies, {len(pairs) - copies} different stories")
    exact = [normalize(p.a) == normalize(p.b) for p in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("\nthreshold sweep: the estimated similarity of the two signatures, companies checked as the index does")
        print("| threshold | precision | recall | F1 |\n| --- | --- | --- | --- |")
        estimates = []
        for p in pairs:
            sa, sb = signature(p.a), signature(p.b)
            compatible = not p.a_institutions and not p.b_institutions or bool(set(p.a_institutions) &
                                                                                set(p.b_institutions))
            estimates.append(similarity(sa, sb) if sa and sb and compatible else 0.0)
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            precision, recall, f1 = scores([e >= threshold for e in estimates], pairs)
            print(f"| {threshold} | {precision:.3f} | {recall:.3f} | {f1:.3f} |")
        shipped = grouped(pairs, THRESHOLD, folder)
        print(f"\nthrough the real index (yuqing.groups, threshold {THRESHOLD}) against the baseline, same pairs:")
        print("| method | precision | recall | F1 |\n| --- | --- | --- | --- |")
        for name, predicted in ((f"MinHash LSH groups (threshold {THRESHOLD})", shipped),
                                ("exact normalised text (baseline)", exact)):
            precision, recall, f1 = scores(predicted, pairs)
            print(f"| {name} | {precision:.3f} | {recall:.3f} | {f1:.3f} |")
        print("\nper kind: share called a copy (true Jaccard of the 3-gram sets: median)")
        print("| kind | label | pairs | groups | baseline | Jaccard |\n| --- | --- | --- | --- | --- | --- |")
        for kind in kinds:
            idx = [i for i, p in enumerate(pairs) if p.kind == kind]
            jaccards = sorted(_jaccard(pairs[i].a, pairs[i].b) for i in idx)
            print(f"| {kind} | {'copy' if pairs[idx[0]].copy else 'different'} | {len(idx)} | "
                  f"{sum(shipped[i] for i in idx) / len(idx):.2f} | {sum(exact[i] for i in idx) / len(idx):.2f} | "
                  f"{jaccards[len(jaccards) // 2]:.2f} |")
        grouping, plain = throughput(args.data, folder, args.throughput)
    print(f"\nthroughput over {args.throughput} finnsp texts in batches of 20: groups {grouping:,.0f} mentions/s, "
          f"exact-match baseline {plain:,.0f} mentions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
