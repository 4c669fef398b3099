"""Whole-process throughput of `yuqing analyze` against bare jieba on the same posts.

    .venv/bin/python benchmarks/bench_analyze.py [--posts 3000] [--chars 230] [--data DIR] [--yuqing PATH]
                                                 [--entities] [--repeat 3] [--before DIR]

Both run as fresh processes over the same JSON Lines file, so start-up (imports, dictionary and
model loading) counts for both. The jieba baseline reads each line, parses it and segments its
text with `jieba.lcut` and writes nothing; `yuqing analyze` does its whole job. Posts are cut from
the finnsp training texts (`--data`, default: $YUQING_TRAIN_DATA or ../shared/data) when present,
else generated. `--entities` gives each post the finnsp entity names it contains (the path that
also scores every entity). `--before DIR` also runs the `yuqing analyze` of another source tree
(a `git archive` of an earlier commit) with this venv. The commands take turns, `--repeat` rounds,
so that load from other work falls on each alike; each is reported by its median wall time and
median CPU time (user + sys of the child process, which other processes' load changes less), with
the ratios to bare jieba (the target is ≥ 0.8).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JIEBA = ("import json, sys, jieba\n"
         "with open(sys.argv[1], encoding='utf-8') as f:\n"
         "    for line in f:\n"
         "        jieba.lcut(json.loads(line)['text'])\n")
ANALYZE = ("import sys\n"
           "from nlp import Analyzer, analyze_jsonl\n"
           "analyze_jsonl(sys.argv[1], sys.argv[2], Analyzer())\n")
CLI = "import sys\nfrom app.cli import main\nsys.exit(main())\n"
_PHRASES = ["客户反映", "信用卡", "暴力催收", "理财产品", "到期无法兑付", "服务态度很好", "网点排队", "手续费太高",
            "涉嫌非法集资", "已向银保监会投诉", "利率下调", "收益稳定", "账户被冻结", "客服一直推诿", "今天股价大涨"]


def posts(count: int, chars: int, data: Path) -> list[str]:
    source = data / "finnsp_train.jsonl"
    rnd = random.Random(0)
    if source.is_file():
        pool = "".join(json.loads(line)["text"] for line in source.open(encoding="utf-8"))
    else:
        pool = "，".join(rnd.choice(_PHRASES) for _ in range(count * chars // 4))
    starts = [rnd.randrange(0, max(1, len(pool) - chars)) for _ in range(count)]
    return [pool[s:s + chars] for s in starts]


def entity_names(data: Path) -> list[str]:
    """Every entity listed in finnsp, longest first (none without the data)."""
    source = data / "finnsp_train.jsonl"
    if not source.is_file():
        return []
    names = {e for line in source.open(encoding="utf-8") for e in json.loads(line)["entities"] if e}
    return sorted(names, key=len, reverse=True)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> int:
    default_data = Path(os.environ.get("YUQING_TRAIN_DATA") or REPO.parent / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--chars", type=int, default=230)
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--yuqing", help="the `yuqing` command (default: call nlp.analyze_jsonl directly)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, taking turns; the median counts")
    parser.add_argument("--entities", action="store_true", help="posts carry the finnsp entities they contain")
    parser.add_argument("--before", type=Path, help="a source tree whose `yuqing analyze` runs too, for comparison")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    try:
        src, out = tmp / "in.jsonl", tmp / "out.jsonl"
        with src.open("w", encoding="utf-8") as f:
            names = entity_names(args.data) if args.entities else []
            for i, text in enumerate(posts(args.posts, args.chars, args.data)):
                row: dict[str, object] = {"id": str(i), "text": text}
                if args.entities:
                    row["entities"] = [n for n in names if n in text][:5]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        analyze = ([args.yuqing, "analyze", "--input", str(src), "--output", str(out)] if args.yuqing
                   else [sys.executable, "-c", ANALYZE, str(src), str(out)])
        runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "bare jieba.lcut": ([sys.executable, "-c", JIEBA, str(src)], None)}
        if args.before:
            # -P: the tree on PYTHONPATH, not this checkout (the current folder), provides the code.
            runs["analyze (before)"] = ([sys.executable, "-P", "-c", CLI, *analyze[1:]],
                                        {**os.environ, "PYTHONPATH": str(args.before.resolve())})
        runs["yuqing analyze"] = (analyze, None)
        for cmd, env in runs.values():  # warms the caches (jieba's /tmp/jieba.cache, the page cache)
            timed(cmd, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, (cmd, env) in runs.items():
                times[name].append(timed(cmd, env))
    finally:
        shutil.rmtree(tmp)
    wall = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}
    base = "bare jieba.lcut"
    print(f"{args.posts} posts of {args.chars} characters{' with entities' if args.entities else ''}, "
          f"median of {args.repeat} runs each, taking turns")
    for name in runs:
        ratio = "" if name == base else f"   ratio {wall[base] / wall[name]:.2f} wall, {cpu[base] / cpu[name]:.2f} CPU"
        speed = f"{args.posts / wall[name]:7.1f} posts/s ({wall[name]:.2f} s wall, {cpu[name]:.2f} s CPU)"
        print(f"{name:17s}: {speed}{ratio}")
    print("target: ratio ≥ 0.8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
