"""The detector on real labelled series: the Numenta Anomaly Benchmark (NAB), scored as NAB scores.

NAB (github.com/numenta/NAB, AGPL-3.0) is 58 real and artificial streaming series (server metrics,
traffic, ad clicks, Twitter mention volumes, ...) with labelled anomaly windows. Its data are not
in this repository (the licence differs and the benchmark should stay outside what we tune on):
give the path of a local copy holding `data/**/*.csv` and `labels/combined_windows.json`; a
partial copy is scored on the series it has. Nothing is fetched.

Each series goes through `alerts.detect.detect_csv` (what `yuqing detect` runs) with
`--direction both`; the windowed Gaussian of NAB's baselines (mean and standard deviation of the
previous 1000 rows; score 1 − the two-sided normal tail) and a null detector (constant score) are
scored in the same run. Scoring follows NAB's `sweeper.py` and `runner.normalize`: the first 15 %
of each series (at most 750 rows) is probation; inside a window a detection earns the scaled
sigmoid of its position (only the best one per window counts), outside one each detection row
costs fpWeight × the sigmoid of its distance past the last window; a missed window costs fnWeight;
one threshold for the whole corpus, the best one (the sweep); normalised so the null detector
scores 0 and a perfect one 100. Profiles: standard (fp 0.11), reward_low_FP (fp 0.22),
reward_low_FN (fn 2).

Also reported: the share of rows scoring ≥ 0.95 and exactly 1.0 (saturation), and rows per second.

    .venv/bin/python benchmarks/bench_nab.py /path/to/NAB [--profile standard] [--per-file]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare import load_score_series

from alerts.detect import detect_csv

PROFILES = {
    "standard": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0},
}
PROBATION = 0.15
GAUSS_WINDOW = 1000


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ~0.987 at the left edge of a window (-1), 0 at its right edge (0),
    negative past it; -1 from 3 window widths on."""
    return -1.0 if position >= 3.0 else 2 / (1 + math.exp(5 * position)) - 1


@dataclass
class Labelled:
    name: str
    timestamps: list[str]
    values: list[str]
    windows: list[tuple[int, int]]  # row indices of each window's first and last row


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def load(root: Path) -> list[Labelled]:
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    out = []
    for name, windows in sorted(labels.items()):
        path = root / "data" / name
        if not path.exists():
            continue
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        stamps = [r["timestamp"] for r in rows]
        parsed = [_ts(s) for s in stamps]
        spans = []
        for start, end in windows:
            a, b = _ts(start), _ts(end)
            # NAB enters a window at the row whose timestamp equals its start (the first such row)
            first = next(i for i, t in enumerate(parsed) if t >= a)
            last = next(i for i, t in enumerate(parsed) if t >= b) if b <= parsed[-1] else len(parsed) - 1
            if parsed[last] > b:
                last -= 1
            spans.append((first, last))
        out.append(Labelled(name, stamps, [r["value"] for r in rows], spans))
    return out


@dataclass(frozen=True)
class Point:
    score: float
    sweep: float
    window: str | None  # None outside windows; "probationary" rows are not scored


def sweep(series: Labelled, scores: np.ndarray, cost: dict[str, float]) -> list[Point]:
    """NAB's Sweeper.calcSweepScore: the weighted score of each row if it were a detection."""
    n = len(scores)
    probation = min(math.floor(PROBATION * n), PROBATION * 5000)
    max_tp = scaled_sigmoid(-1.0)
    starts = {a: (a, b) for a, b in series.windows}
    points = []
    current: tuple[int, int] | None = None
    previous: tuple[int, int] | None = None
    for i in range(n):
        if current is None and i in starts:
            current = starts[i]
        if current is not None:
            a, b = current
            width = b - a + 1
            weighted = scaled_sigmoid(-(b - i + 1) / width) * cost["tpWeight"] / max_tp
            name: str | None = f"{series.name}|{a}"
        else:
            position = 3.0 if previous is None else abs(previous[1] - i) / (previous[1] - previous[0])
            weighted = scaled_sigmoid(position) * cost["fpWeight"]
            name = None
        points.append(Point(float(scores[i]), weighted, name if i >= probation else "probationary"))
        if current is not None and i == current[1]:
            previous, current = current, None
    return points


def best_threshold(points: list[Point], cost: dict[str, float]) -> tuple[float, float]:
    """NAB's calcScoreByThreshold over the whole corpus: (best total score, its threshold)."""
    scorable = sorted((p for p in points if p.window != "probationary"), key=lambda p: -p.score)
    parts = {"fp": 0.0} | {p.window: -cost["fnWeight"] for p in scorable if p.window is not None}
    best, best_threshold_, threshold = sum(parts.values()), 1.1, 1.1
    total = best
    for p in scorable:
        if p.score != threshold:
            if total > best:
                best, best_threshold_ = total, threshold
            threshold = p.score
        if p.window is None:
            parts["fp"] += p.sweep
            total += p.sweep
        else:
            gain = max(parts[p.window], p.sweep) - parts[p.window]
            parts[p.window] += gain
            total += gain
    if total > best:
        best, best_threshold_ = total, threshold
    return best, best_threshold_


def windowed_gaussian(values: np.ndarray) -> np.ndarray:
    """NAB's windowed Gaussian baseline: the two-sided normal tail of the row against the mean and
    standard deviation of the previous GAUSS_WINDOW rows, as 1 − tail."""
    out = np.zeros(len(values))
    sums = np.concatenate([[0.0], np.cumsum(values)])
    squares = np.concatenate([[0.0], np.cumsum(values * values)])
    for i in range(1, len(values)):
        lo = max(0, i - GAUSS_WINDOW)
        k = i - lo
        mean = (sums[i] - sums[lo]) / k
        std = math.sqrt(max((squares[i] - squares[lo]) / k - mean * mean, 0.0)) or 1e-6
        out[i] = 1 - math.erfc(abs(values[i] - mean) / std / math.sqrt(2))
    return out


def ours(series: Labelled, workdir: Path) -> np.ndarray:
    src, dst = workdir / "in.csv", workdir / "out.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows(zip(series.timestamps, series.values, strict=True))
    detect_csv(src, dst, direction="both")
    with dst.open(newline="") as f:
        return np.array([float(r["anomaly_score"]) for r in csv.DictReader(f)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nab", type=Path, help="a local copy of NAB (data/ and labels/combined_windows.json)")
    ap.add_argument("--profile", choices=sorted(PROFILES), action="append",
                    help="NAB profile(s) to report (default: all three)")
    ap.add_argument("--per-file", action="store_true", help="also print each series' raw standard score")
    ap.add_argument("--compare", metavar="FILE", help="another version of the detector module to score alongside")
    args = ap.parse_args()
    corpus = load(args.nab)
    if not corpus:
        sys.exit(f"{args.nab}: no series of labels/combined_windows.json found under data/")
    rows = sum(len(s.values) for s in corpus)
    windows = sum(len(s.windows) for s in corpus)
    print(f"{len(corpus)} series, {rows} rows, {windows} windows from {args.nab}")
    detectors: dict[str, Callable[[Labelled, Path], np.ndarray]] = {
        "yuqing detect --direction both": ours,
        "windowed Gaussian (1000 rows)": lambda s, _: windowed_gaussian(np.array(s.values, dtype=float)),
        "null (constant)": lambda s, _: np.full(len(s.values), 0.5),
    }
    if args.compare:
        before = load_score_series(args.compare)
        detectors["compared"] = lambda s, _: np.array(
            before([_ts(t) for t in s.timestamps], [float(v) for v in s.values], "both"))
    scores: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, detect in detectors.items():
            began = time.perf_counter()
            scores[name] = [detect(s, Path(tmp)) for s in corpus]
            elapsed = time.perf_counter() - began
            every = np.concatenate(scores[name])
            print(f"{name:32} {rows / elapsed:9.0f} rows/s; rows ≥ 0.95: {np.mean(every >= 0.95):6.2%}, "
                  f"= 1.0: {np.mean(every >= 1.0):6.2%}")
    for profile in args.profile or sorted(PROFILES):
        cost = PROFILES[profile]
        raw = {name: best_threshold([p for s, sc in zip(corpus, got, strict=True) for p in sweep(s, sc, cost)], cost)
               for name, got in scores.items()}
        null = raw["null (constant)"][0]
        perfect = windows * cost["tpWeight"]
        print(f"\nNAB score, profile {profile} (null 0, perfect 100):")
        for name, (total, threshold) in raw.items():
            print(f"  {name:32} {100 * (total - null) / (perfect - null):7.1f}   (threshold {threshold:.6f})")
    if args.per_file:
        cost = PROFILES["standard"]
        print("\nper series, standard profile, each at its own best threshold (raw score; windows):")
        for i, s in enumerate(corpus):
            cells = [f"{best_threshold(sweep(s, scores[n][i], cost), cost)[0]:7.2f}" for n in detectors]
            print(f"  {s.name:60} {' '.join(cells)}  {len(s.windows)}")


if __name__ == "__main__":
    main()
