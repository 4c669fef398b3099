"""The causal detector, its scores and severities, the `timestamp,value` CSV contract of
`yuqing detect`, negative share, source silence and new-term bursts."""
from __future__ import annotations

import csv
import math
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from alerts.detect import (
    MIN_HISTORY,
    SEVERITIES,
    SeriesError,
    analyse_series,
    analyse_share,
    detect_csv,
    score_from_decades,
    score_series,
    severity,
    source_silence,
    term_bursts,
)

START = datetime(2026, 3, 1)
FIVE_MIN = timedelta(minutes=5)


def daily_cycle(days: int, seed: int, amplitude: float = 10.0) -> tuple[list[datetime], list[int]]:
    """5-minute counts around a sinusoidal daily cycle (high at 06:00, low at 18:00), Poisson noise."""
    rng = np.random.default_rng(seed)
    n = days * 288
    mean = 20 + amplitude * np.sin(2 * np.pi * np.arange(n) / 288)
    return [START + i * FIVE_MIN for i in range(n)], rng.poisson(mean).tolist()


def hourly_cycle(days: int, level: float = 30.0) -> tuple[list[float], np.ndarray]:
    """Epoch-second timestamps of hourly buckets and their mean count: a daily cycle, level ± 40 %."""
    hours = np.arange(days * 24)
    mean = level * (1 + 0.4 * np.sin(2 * np.pi * hours / 24))
    return [1_772_236_800.0 + 3600 * h for h in hours], mean


def test_scores_do_not_look_ahead():
    ts, values = daily_cycle(5, seed=1)
    values[900] += 50
    full = score_series(ts, values, "both")
    for cut in (1, 3, MIN_HISTORY + 1, 30, 300, 901, 1200):
        assert score_series(ts[:cut], values[:cut], "both") == full[:cut]


def test_causal_at_many_cut_points_with_gaps_bursts_and_a_switch_to_measurements():
    rng = np.random.default_rng(11)
    ts, mean = hourly_cycle(20)
    values = rng.poisson(mean).astype(float)
    values[200], values[300:312] = values[200] + 80, values[300:312] + 25
    keep = rng.random(len(values)) > 0.15
    keep[350:380] = False  # an outage
    ts, values = [t for t, k in zip(ts, keep, strict=True) if k], values[keep]
    values[-40] += 0.5  # from here on the series is no longer counts
    for direction in ("up", "down", "both"):
        full = score_series(ts, values.tolist(), direction)
        for cut in sorted(set(rng.integers(1, len(values), 25).tolist()) | {MIN_HISTORY, len(values) - 39}):
            assert score_series(ts[:cut], values[:cut].tolist(), direction) == full[:cut], (direction, cut)


def test_shape_range_and_warm_up():
    ts, values = daily_cycle(2, seed=2)
    scores = score_series(ts, values)
    assert len(scores) == len(values) and all(0.0 <= s < 1.0 for s in scores)
    assert scores[:MIN_HISTORY] == [0.0] * MIN_HISTORY
    assert score_series([], []) == []


def test_planted_spike_stands_out_and_normal_rows_stay_low():
    ts, values = daily_cycle(6, seed=3)
    values[1500] += 40
    scores = np.array(score_series(ts, values))
    assert scores[1500] >= 0.99
    assert np.mean(np.delete(scores, 1500)[MIN_HISTORY:] >= 0.95) < 0.002


def test_scores_do_not_saturate_and_rank_far_into_the_tail():
    """Bigger spikes score higher, all below 1 and distinct as written (9 decimals), up to 1000 sd."""
    ts, values = daily_cycle(4, seed=21)
    row = 3 * 288 + 100
    written = []
    for sds in (5, 10, 20, 50, 100, 300, 1000):
        bumped = list(values)
        bumped[row] += round(sds * math.sqrt(20))
        written.append(f"{score_series(ts, bumped)[row]:.9f}")
    assert written == sorted(written) and len(set(written)) == len(written)
    assert float(written[-1]) < 1.0


def test_the_score_map():
    assert score_from_decades(0.0) == 0.5
    assert score_from_decades(math.log10(30)) == pytest.approx(0.95, abs=1e-3)  # once a month
    assert score_from_decades(math.log10(7)) == pytest.approx(0.90, abs=1e-3)  # once a week
    assert score_from_decades(math.log10(40 * 365)) == pytest.approx(0.99, abs=1e-3)
    grid = [score_from_decades(d) for d in np.linspace(-20, 300, 2000)]
    assert grid == sorted(grid) and 0 < grid[0] and grid[-1] < 1


@pytest.mark.parametrize("kind", ["counts", "heavy-tailed"])
def test_scores_rise_with_the_surprise(kind):
    """Raising a row never lowers its score, also where the calibration by the series' record
    takes over."""
    ts, values = daily_cycle(4, seed=12)
    steps = np.arange(0, 60, 1)  # whole numbers: a fraction would make the counts measurements
    if kind == "heavy-tailed":
        values = (100 + 2 * np.random.default_rng(12).standard_t(3, len(values))).tolist()
        steps = np.arange(0, 60, 0.5)
    row = 3 * 288 + 100
    scores = []
    for extra in steps:
        bumped = list(values)
        bumped[row] += float(extra)
        scores.append(score_series(ts, bumped)[row])
    assert scores == sorted(scores) and scores[0] < 0.5 and scores[-1] > 0.99


def test_busy_irregular_series_raise_few_alarms():
    """Real series are not Poisson: random walks, heavy tails, integer-valued metrics, level
    shifts. Few rows score ≥ 0.95 on any of them (the previous detector flagged 2.9 % on real
    labelled series), while a clear spike in each still does."""
    rng = np.random.default_rng(22)
    n = 4000
    walk = 50 + np.cumsum(rng.normal(0, 0.3, n))
    series = {
        "random walk": walk,
        "heavy tails": 100 + rng.standard_t(2, n),
        "integer metric": np.round(60 + 4 * rng.standard_normal(n) + 10 * (np.arange(n) > 2500)),
        "spiky walk": walk + rng.exponential(2, n) * (rng.random(n) < 0.05),
    }
    for name, values in series.items():
        values = values.copy()
        values[3500] += 30 * np.std(np.diff(values))
        scores = np.array(score_series([1_700_000_000 + 300 * i for i in range(n)], values.tolist()))
        others = np.delete(scores, 3500)
        assert np.mean(others >= 0.95) < 0.01, name
        assert scores[3500] > np.quantile(others, 0.999), name


def test_the_daily_cycle_is_the_baseline():
    """30 at night (where ~10 is normal) is a spike; 30 in the morning peak (~30 normal) is not."""
    ts, values = daily_cycle(8, seed=4)
    night, morning = 7 * 288 + 216, 7 * 288 + 72  # 18:00 and 06:00 on day 8
    values[night] = values[morning] = 30
    result = analyse_series(ts, values)
    assert result.scores[night] >= 0.95 and result.scores[morning] < 0.5
    assert result.baselines[night] < 15 and result.baselines[morning] > 25


@pytest.mark.parametrize("direction, spike, drop", [("up", True, False), ("down", False, True), ("both", True, True)])
def test_direction(direction, spike, drop):
    ts, values = daily_cycle(3, seed=5, amplitude=0)
    values[500], values[700] = 60, 0
    scores = score_series(ts, values, direction)
    assert (scores[500] > 0.95) == spike and (scores[700] > 0.95) == drop


def test_sparse_counts_are_count_aware():
    """A quiet series (mostly 0): one stray mention is noise; three are unusual (Poisson, not the
    z-score of 9 sd they would have) but too few to alert on; eight are a burst."""
    rnd = random.Random(6)
    values = [1 if rnd.random() < 0.1 else 0 for _ in range(300)]
    values[150], values[200], values[280] = 1, 3, 8
    result = analyse_series(list(range(0, 300 * 3600, 3600)), values)
    assert result.scores[150] < 0.5 and result.scores[200] < 0.99 and result.scores[280] > 0.99
    assert max(s for i, s in enumerate(result.scores) if i not in (200, 280)) < 0.95
    assert severity(result.scores[200], 3) is None


def test_severity_levels():
    assert SEVERITIES == ("关注", "预警", "紧急")
    assert severity(0.85, 50) is None
    assert severity(0.92, 50) == "关注"
    assert severity(0.96, 50) == "预警"
    assert severity(0.995, 50) == "紧急"
    assert severity(0.995, 10) == "预警"  # urgent needs three times min_count mentions
    assert severity(0.999, 4) is None  # fewer than min_count
    assert severity(0.995, 6, min_count=2) == "紧急"


def test_continuous_values_use_a_robust_z():
    rng = np.random.default_rng(7)
    values = (100 + rng.normal(0, 0.5, 300)).tolist()
    values[250] = 104.5
    scores = score_series(list(range(300)), values)
    assert scores[250] > 0.95 and sorted(scores)[-2] < 0.95


def test_short_series_are_scored_without_errors():
    assert score_series([1, 2, 3], [5, 5, 100]) == [0.0, 0.0, 0.0]
    assert score_series(list(range(8)), [3, 4, 3, 5, 4, 3, 4, 40])[-1] > 0.95


def test_real_series_as_they_come_are_scored_in_row_order_with_warnings():
    """A clock stepping back (the DST hour repeated), repeated timestamps, a gap, NaN: nothing is
    refused; each oddity is named by its row; scores stay causal and in [0, 1]."""
    ts, values = daily_cycle(3, seed=23)
    stamps: list[datetime | float] = list(ts)
    stamps[400:412] = [t - timedelta(hours=1) for t in stamps[400:412]]  # the clock steps back an hour
    stamps[500] = stamps[499]
    floats = [float(v) for v in values]
    floats[600] = math.nan
    del stamps[700:760], floats[700:760]  # five hours missing
    result = analyse_series(stamps, floats, "both")
    assert len(result.scores) == len(floats) and all(0.0 <= s < 1.0 for s in result.scores)
    notes = " | ".join(result.warnings)
    assert "rows 401, 402, 403 and 8 more: timestamp earlier than the row before" in notes
    assert "rows 412, 501: same timestamp as the row before" in notes
    assert "row 601: value is not a finite number" in notes
    assert "rows 413, 701: a gap of more than 10 typical steps" in notes
    assert result.scores[600] == 0.0
    assert score_series(stamps[:650], floats[:650], "both") == result.scores[:650]


def test_constant_and_single_row_series():
    ts = list(range(0, 50 * 3600, 3600))
    flat = analyse_series(ts, [7.5] * 50)
    assert max(flat.scores) < 0.5 and "never changes" in flat.warnings[0]
    one = analyse_series([0], [3])
    assert one.scores == [0.0] and "nothing to compare" in one.warnings[0]
    stepped = score_series(ts + [50 * 3600], [7.5] * 50 + [8.0])
    assert stepped[-1] > 0.95


def test_bad_arguments_are_refused():
    with pytest.raises(SeriesError, match="direction"):
        score_series([1], [1], "sideways")
    with pytest.raises(SeriesError, match="2 timestamps but 1 values"):
        score_series([1, 2], [1])


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def read(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_keeps_rows_columns_and_text(tmp_path):
    ts, values = daily_cycle(2, seed=8)
    rows = [(t.strftime("%Y-%m-%d %H:%M:%S"), v, f"note{i}") for i, (t, v) in enumerate(zip(ts, values, strict=True))]
    rows[3] = ("2026-03-01T00:15:00", rows[3][1], "iso with T")
    write(tmp_path / "in.csv", ["timestamp", "value", "note"], rows)
    report = detect_csv(tmp_path / "in.csv", tmp_path / "out.csv")
    assert report.rows == len(rows) and report.warnings == []
    out = read(tmp_path / "out.csv")
    assert [(r["timestamp"], r["value"], r["note"]) for r in out] == [tuple(map(str, row)) for row in rows]
    assert list(out[0]) == ["timestamp", "value", "note", "anomaly_score"]
    expected = score_series([datetime.fromisoformat(r[0]) for r in rows], [r[1] for r in rows])
    assert [float(r["anomaly_score"]) for r in out] == pytest.approx(expected, abs=1e-6)


def test_csv_accepts_epoch_seconds_and_aware_times(tmp_path):
    write(tmp_path / "a.csv", ["timestamp", "value"], [(1_700_000_000 + 60 * i, i % 3) for i in range(20)])
    write(tmp_path / "b.csv", ["timestamp", "value"],
          [((START + timedelta(hours=i)).isoformat() + "+08:00", 2) for i in range(20)])
    assert detect_csv(tmp_path / "a.csv", tmp_path / "a.out").rows == 20
    assert detect_csv(tmp_path / "b.csv", tmp_path / "b.out").rows == 20


def test_csv_missing_column_is_an_error_naming_the_file(tmp_path):
    write(tmp_path / "in.csv", ["time", "value"], [("2026-03-01", 1)])
    with pytest.raises(SeriesError, match="line 1: header lacks column.s. timestamp") as info:
        detect_csv(tmp_path / "in.csv", tmp_path / "out.csv")
    assert str(tmp_path / "in.csv") in str(info.value)
    assert not (tmp_path / "out.csv").exists()


def test_csv_odd_rows_are_named_by_line_kept_and_scored_in_row_order(tmp_path):
    base = datetime(2026, 3, 1)
    rows = [((base + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M"), 10 + i % 3) for i in range(40)]
    rows[5] = (rows[5][0], "")
    rows[6] = (rows[6][0], "abc")
    rows[7] = (rows[7][0], "inf")
    rows[8] = ("yesterday", 11)
    rows[9] = (rows[9][0], 11, "surplus")
    rows[20] = (rows[18][0], 11)  # the clock steps back
    rows[30] = (rows[29][0], 12)  # a repeated timestamp
    rows[35] = (rows[35][0] + "+08:00", 12)  # aware among naive
    write(tmp_path / "in.csv", ["timestamp", "value"], rows)
    report = detect_csv(tmp_path / "in.csv", tmp_path / "out.csv", direction="both")
    text = "\n".join(report.warnings)
    for words in ("line 7: value '' is not a number", "line 8: value 'abc' is not a number",
                  "line 9: value 'inf' is not a finite number", "line 10: timestamp 'yesterday' is not ISO 8601",
                  "line 11: 3 fields, the header has 2", "lines 22, 37: timestamp earlier than the row before",
                  "line 32: same timestamp as the row before", "line 37: mixes timezone-aware and naive"):
        assert words in text, words
    assert all(w.startswith(f"{tmp_path / 'in.csv'}: line") for w in report.warnings)
    out = read(tmp_path / "out.csv")
    assert [r["timestamp"] for r in out] == [str(r[0]) for r in rows]
    assert all(float(out[i]["anomaly_score"]) == 0.0 for i in range(5, 10))
    assert all(0.0 <= float(r["anomaly_score"]) < 1.0 for r in out)


def test_a_new_level_stops_alerting():
    """Mentions double for good: the first hours of the new level alert; then the detector takes
    the new level as normal and the alerts stop within a day."""
    rng = np.random.default_rng(13)
    ts, mean = hourly_cycle(16)
    mean[10 * 24:] *= 2
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series(ts, values))
    assert scores[10 * 24:10 * 24 + 6].max() > 0.95
    assert scores[11 * 24:].max() < 0.95


def test_gaps_in_the_series_keep_the_daily_profile():
    """Missing hours (and a whole missing day) do not raise alarms or hide a spike after them."""
    rng = np.random.default_rng(14)
    ts, mean = hourly_cycle(14)
    values = rng.poisson(mean)
    keep = rng.random(len(values)) > 0.2
    keep[8 * 24:9 * 24] = False
    spike = 10 * 24 + 3
    values[spike] += 45
    keep[spike] = True
    kept_ts = [t for t, k in zip(ts, keep, strict=True) if k]
    scores = np.array(score_series(kept_ts, values[keep].tolist()))
    at = int(np.sum(keep[:spike]))
    assert scores[at] > 0.98
    assert np.sum(np.delete(scores, at) >= 0.95) <= 1


def burst_series(seed: int, width: int, height: float, measurements: bool) -> tuple[list[datetime], list[float], int]:
    """Six days of 5-minute counts around a daily cycle, `height` × normal for `width` rows from
    row b (returned); as measurements (not counts) when asked."""
    rng = np.random.default_rng(seed)
    n = 6 * 288
    mean = 20 + 8 * np.sin(2 * np.pi * np.arange(n) / 288)
    b = 5 * 288 + 40
    mean[b:b + width] *= height
    values = rng.poisson(mean).astype(float)
    if measurements:
        values = values / 7 + 100
    return [START + i * FIVE_MIN for i in range(n)], values.tolist(), b


@pytest.mark.parametrize("measurements", [False, True])
@pytest.mark.parametrize("width", [6, 12, 24, 48])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_end_of_a_burst_is_no_anomaly_either_way(seed, width, measurements):
    """With --direction both, the rows after a burst are the series back at its old level: neither a
    drop (a burst long enough to be taken for the new level has ended) nor the tail of the burst's
    run. Before the fix the hour after a 6- to 48-row burst scored 0.99-1.0 on these series."""
    ts, values, b = burst_series(seed, width, 3, measurements)
    scores = np.array(score_series(ts, values, "both"))
    assert scores[b:b + 3].min() > 0.95 and scores[b:b + 3].max() > 0.99
    assert scores[b + width:b + width + 12].max() < 0.9


def test_a_real_drop_after_a_new_level_still_scores():
    """The old level after a shift is no anomaly, but a source dying is: 0 is far below both."""
    ts, values, b = burst_series(3, 48, 3, False)
    values[b + 48:b + 60] = [0.0] * 12
    scores = np.array(score_series(ts, values, "both"))
    assert scores[b + 48:b + 51].min() > 0.95


def test_a_dead_source_is_a_drop_not_a_spike():
    rng = np.random.default_rng(15)
    ts, mean = hourly_cycle(8, level=40)
    values = rng.poisson(mean)
    values[6 * 24:6 * 24 + 8] = 0
    down = np.array(score_series(ts, values.tolist(), "down"))
    up = np.array(score_series(ts, values.tolist(), "up"))
    assert down[6 * 24:6 * 24 + 3].min() > 0.99 and up.max() < 0.95
    assert np.sum(down[2 * 24:6 * 24 - 1] >= 0.95) == 0


def test_a_sustained_burst_is_found_though_no_single_row_is_extreme():
    """Twelve 5-minute buckets each only ~2.5 sd above normal: together far rarer than a day's noise."""
    rng = np.random.default_rng(16)
    n = 6 * 288
    mean = 20 + 12 * np.sin(2 * np.pi * np.arange(n) / 288)
    burst = slice(5 * 288 + 40, 5 * 288 + 52)
    mean[burst] += 2.5 * np.sqrt(mean[burst])
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series([START + i * FIVE_MIN for i in range(n)], values))
    assert scores[burst].max() > 0.95
    assert np.sum(scores >= 0.95) - np.sum(scores[burst.start:burst.stop + 6] >= 0.95) <= 1


def test_quiet_weekends_are_learnt():
    """With weekends at a third of weekday traffic, Monday mornings stop looking like spikes."""
    rng = np.random.default_rng(17)
    ts, mean = hourly_cycle(35)
    weekday = ((np.array(ts) // 86400).astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    mean = np.where(weekday >= 5, mean / 3, mean)
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series(ts, values))
    assert np.sum(scores[24 * 24:] >= 0.95) == 0


def test_negative_share_is_count_aware():
    """4 negatives of 5 posts is no crisis where a third are usually negative; 400 of 500 is."""
    rng = np.random.default_rng(18)
    n = 24 * 14
    totals = rng.poisson(300, n)
    negatives = rng.binomial(totals, 1 / 3)
    totals[200], negatives[200] = 5, 4
    totals[300], negatives[300] = 500, 400
    ts = [1_772_236_800.0 + 3600 * h for h in range(n)]
    result = analyse_share(ts, negatives.tolist(), totals.tolist())
    scores = np.array(result.scores)
    assert scores[200] < 0.95 and scores[300] > 0.99
    assert np.sum(np.delete(scores, 300) >= 0.95) <= 1
    assert result.baselines[300] == pytest.approx(1 / 3, abs=0.03)


UTC = timezone.utc
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_source_silence_learns_the_usual_gap():
    arrivals = [T0 + timedelta(minutes=20 * i) for i in range(60)]  # every 20 minutes
    last = arrivals[-1]
    assert source_silence("guba", arrivals, last + timedelta(minutes=50)) is None
    quiet = source_silence("guba", arrivals, last + timedelta(hours=2))
    assert quiet is not None and quiet.reason == "no mentions" and quiet.since == last
    assert quiet.usual_gap == timedelta(minutes=20)
    daily = [T0 + timedelta(days=i) for i in range(20)]  # a source that posts once a day is fine after 30 h
    assert source_silence("blog", daily, daily[-1] + timedelta(hours=30)) is None
    assert source_silence("new", arrivals[:3], last + timedelta(days=3)) is None  # too few to know


def test_source_silence_from_a_wall():
    arrivals = [T0 + timedelta(minutes=20 * i) for i in range(60)]
    now = arrivals[-1] + timedelta(minutes=30)
    walled = source_silence("weibo", arrivals, now, health="login-required", health_since=now - timedelta(hours=1))
    assert walled is not None and walled.reason == "login-required"
    assert source_silence("weibo", arrivals, now, health="login-required",
                          health_since=now - timedelta(minutes=5)) is None
    assert source_silence("weibo", arrivals, now, health="ok", health_since=now - timedelta(hours=5)) is None


def test_new_term_bursts():
    rng = random.Random(19)
    words = [f"词{i}" for i in range(200)]
    history = [rng.sample(words, 5) for _ in range(3000)]
    recent = [rng.sample(words, 5) for _ in range(200)]
    for terms in recent[:12]:
        terms += ["锦程宝", "暴雷"]
    history[5].append("锦程宝")  # seen once before: rare, not new
    bursts = term_bursts(recent, history)
    assert [b.term for b in bursts] == ["暴雷", "锦程宝"]
    assert bursts[1].count == 12 and bursts[1].history_count == 1 and bursts[1].score > 0.99
    assert term_bursts(recent[12:], history) == []
    few = [list(t) for t in recent[12:]]
    few[0].append("新词")
    assert term_bursts(few, history) == []  # once is not a burst


def test_the_detect_command_scores_a_series_whose_clock_steps_back(tmp_path):
    """`yuqing detect` (the real command, in a child process) scores every row of a series with
    the DST hour repeated and names the line on stderr; exit 0."""
    rows = [((START + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S"), 10 + i % 4) for i in range(72)]
    rows[50:53] = [((START + timedelta(hours=i - 3)).strftime("%Y-%m-%d %H:%M:%S"), 11) for i in range(50, 53)]
    write(tmp_path / "in.csv", ["timestamp", "value"], rows)
    env = dict(os.environ, YUQING_DATA_DIR=str(tmp_path / "data"))
    env.pop("YUQING_CONFIG", None)
    command = Path(sys.executable).with_name("yuqing")  # the installed command, wherever its module lives
    proc = subprocess.run([str(command), "detect", "--input", str(tmp_path / "in.csv"),
                           "--output", str(tmp_path / "out.csv"), "--direction", "both"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "lines 52, 53: timestamp earlier than the row before" in proc.stderr
    assert "scored 72 row(s)" in proc.stderr
    assert [r["timestamp"] for r in read(tmp_path / "out.csv")] == [r[0] for r in rows]
