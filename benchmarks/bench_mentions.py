"""Detection delay and false alerts per week on realistic mention-volume series.

Hourly counts of negative mentions of one institution, 10 weeks each: a daily profile (quiet from
01:00 to 07:00, peaks at lunch and in the evening), quieter weekends (0.6), a slow drift, and
over-dispersed noise (a gamma-distributed rate per hour, i.e. negative binomial counts: posts come
in reposted clusters); three sizes of institution (about 40, 5 and 0.6 negative mentions an hour).
After three weeks of history, crises are planted: the rate rises to 2-8 × normal over 1-6 hours
and decays over about a day. The "overall" series adds four institutions, one of which has the
crisis, so the same crisis is diluted.

An alert is what the spike rule raises: score ≥ 0.95 and at least `min_count` (5) mentions in
the bucket; consecutive alerting hours are one alert (the rule's cooldown). Reported per family:
crises found, median and 90th-percentile delay (hours from the first hour of the crisis to the
first alert), false alerts per week (alerts starting outside a crisis and the day after it), and
the same for a plain rolling z-score (mean and sd of the previous 24 hours, z ≥ 3) and, with
`--compare FILE`, another version of the detector module (e.g. `git show main:alerts/detect.py`).

    .venv/bin/python benchmarks/bench_mentions.py [--seeds 10] [--compare FILE]
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare import load_score_series, timed

from alerts.detect import score_series

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
START = 1_772_294_400 - 8 * HOUR  # 2026-03-01 00:00 in UTC+8: buckets are Beijing hours
WEEKS = 10
WARM = 21 * 24  # no crisis in the first three weeks: the rule's default history
THRESHOLD, MIN_COUNT = 0.95, 5
AFTER = 24  # hours after a crisis in which an alert is late, not false
SIZES = {"busy": 40.0, "mid": 5.0, "small": 0.6}
DISPERSION = 8.0  # gamma shape of the hourly rate: variance = mean + mean² / DISPERSION

# share of the day's mentions in each hour of the day (Beijing time)
PROFILE = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 9, 8, 8, 7, 7, 7, 8, 9, 10, 9, 7, 5], dtype=float)
PROFILE /= PROFILE.mean()


@dataclass
class Crisis:
    start: int
    peak: float  # times the normal rate


@dataclass
class Series:
    family: str
    timestamps: np.ndarray
    values: np.ndarray
    crises: list[Crisis]


def _rate(rng: np.random.Generator, base: float, n: int) -> np.ndarray:
    hours = np.arange(n)
    weekday = (hours // 24) % 7  # 2026-03-01 is a Sunday: days 0 and 6 are the weekend
    weekend = np.where((weekday == 0) | (weekday == 6), 0.6, 1.0)
    drift = np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return base * PROFILE[hours % 24] * weekend * drift


def _crises(rng: np.random.Generator, rate: np.ndarray) -> tuple[np.ndarray, list[Crisis]]:
    rate = rate.copy()
    crises = []
    for start in range(WARM + int(rng.integers(0, 72)), len(rate) - 48, int(rng.integers(150, 260))):
        peak = float(rng.choice([2.0, 3.0, 5.0, 8.0]))
        rise = int(rng.integers(1, 7))
        t = np.arange(len(rate) - start)
        shape = np.where(t < rise, (t + 1) / rise, np.exp(-(t - rise) / 12.0))
        rate[start:] *= 1 + (peak - 1) * shape
        crises.append(Crisis(start, peak))
    return rate, crises


def _counts(rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    return rng.poisson(rng.gamma(DISPERSION, rate / DISPERSION)).astype(float)


def make(family: str, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    n = WEEKS * 7 * 24
    ts = START + HOUR * np.arange(n)
    if family == "overall":
        rate, crises = _crises(rng, _rate(rng, SIZES["mid"], n))
        values = _counts(rng, rate) + sum(_counts(rng, _rate(rng, b, n)) for b in (SIZES["busy"], 5.0, 2.0))
        return Series(family, ts, values, crises)
    rate, crises = _crises(rng, _rate(rng, SIZES[family], n))
    return Series(family, ts, _counts(rng, rate), crises)


def rolling_z(values: np.ndarray) -> np.ndarray:
    """The plain baseline: z of each hour against the previous 24, as a score (z ≥ 3 → 0.95)."""
    out = np.zeros(len(values))
    for i in range(24, len(values)):
        window = values[i - 24:i]
        z = (values[i] - window.mean()) / max(window.std(), 1e-9)
        out[i] = 0.95 if z >= 3 else 0.0
    return out


@dataclass
class Tally:
    crises: int = 0
    found: int = 0
    delays: list[int] | None = None
    false_alerts: int = 0
    weeks: float = 0.0

    def add(self, scores: np.ndarray, s: Series) -> None:
        self.delays = self.delays or []
        alert = (scores >= THRESHOLD) & (s.values >= MIN_COUNT)
        starts = np.flatnonzero(alert & ~np.concatenate([[False], alert[:-1]]))
        excused = np.zeros(len(alert), dtype=bool)
        for c in s.crises:
            self.crises += 1
            end = c.start + 48
            first = np.flatnonzero(alert[c.start:end])
            if first.size:
                self.found += 1
                self.delays.append(int(first[0]))
            excused[c.start:end + AFTER] = True
        self.false_alerts += int(np.sum(~excused[starts[starts >= WARM]]))
        self.weeks += (len(alert) - WARM) / (7 * 24)

    def line(self) -> str:
        d = np.array(self.delays or [-1])
        per_week = self.false_alerts / max(self.weeks, 1e-9)
        return (f"found {self.found:3d}/{self.crises:3d}  delay median {np.median(d):4.1f} h, "
                f"90 % {np.quantile(d, 0.9):4.1f} h  false alerts/week {per_week:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--compare", metavar="FILE", help="another version of the detector module to score alongside")
    args = ap.parse_args()
    detectors: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "yuqing": lambda ts, vs: np.array(score_series(ts.tolist(), vs.tolist())),
        "rolling z": lambda ts, vs: rolling_z(vs)}
    if args.compare:
        before = load_score_series(args.compare)
        detectors["compared"] = lambda ts, vs: np.array(before(ts.tolist(), vs.tolist()))
    seconds = dict.fromkeys(detectors, 0.0)
    by_series = {name: (lambda s, d=detect: d(s.timestamps, s.values)) for name, detect in detectors.items()}
    rows = 0
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"alert: score ≥ {THRESHOLD} and ≥ {MIN_COUNT} mentions; {WEEKS} weeks of hourly buckets; seeds "
          f"{seeds.start}..{seeds.stop - 1}")
    for family in (*SIZES, "overall"):
        tallies = {name: Tally() for name in detectors}
        for s, answers in timed(by_series, (make(family, seed) for seed in seeds), seconds):
            rows += len(s.values)
            for name, scores in answers.items():
                tallies[name].add(scores, s)
        for name, tally in tallies.items():
            print(f"{family:8s} {name:10s} {tally.line()}")
    for name in detectors:
        print(f"speed {name}: {rows / seconds[name]:,.0f} rows/s ({rows} rows, one series at a time)")


if __name__ == "__main__":
    main()
