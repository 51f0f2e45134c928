"""scripts/bench_capacity.py's arithmetic: the ground-truth rule, percentiles, passes and the verdict (no timing)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_capacity.py"
_spec = importlib.util.spec_from_file_location("bench_capacity", SCRIPT)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_capacity"] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)


@pytest.mark.parametrize(("in_view", "max_gap", "expected"), [
    ([], 2, []),
    ([False, False], 2, []),
    ([False, True, True, False], 2, [1]),
    ([True, False, False, True], 2, [0]),  # a gap of 2 frames: the tracker keeps the track
    ([True, False, False, False, True], 2, [0, 4]),  # a gap of 3: a new appearance
    ([False] * 41 + [True] * 65 + [False] * 32, 22, [41]),  # the hamilton clip at 15 fps
])
def test_first_in_view_is_the_first_frame_of_each_appearance(in_view, max_gap, expected):
    assert bench.first_in_view(in_view, max_gap) == expected


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1.0], 95, 1.0),
    ([3.0, 1.0, 2.0], 50, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
    ([float(v) for v in range(1, 21)], 95, 19.05),  # numpy's linear rule
    ([0.2, 0.4], 0, 0.2),
    ([0.2, 0.4], 100, 0.4),
])
def test_percentile_matches_numpys_linear_rule(values, q, expected):
    assert bench.percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_nan():
    assert math.isnan(bench.percentile([], 95))


@pytest.mark.parametrize(("video_time_s", "expected"), [
    (2.733 + 0.5, 0),  # half a second after the first pass's ground truth
    (2.733 - 0.3, 0),  # decided a little before "fully in view"
    (9.2 + 2.733 + 1.2, 1),
    (3 * 9.2 + 2.733 + 4.5, 3),
    (9.2 + 2.733 + 6.3, 1),  # late in its pass (the person stayed in view): still that pass, not the next
    (9.2 + 2.733 - 1.2, 0),  # more than a second before the next pass's ground truth: this pass
])
def test_an_alert_belongs_to_the_pass_it_follows(video_time_s, expected):
    assert bench.pass_of(video_time_s, 41 / 15, 138 / 15) == expected


def test_latencies_keep_the_first_alert_per_camera_and_pass():
    gt_s, period = 41 / 15, 138 / 15
    clock0 = 1_000_000.0  # wall time of clock 0 (epoch seconds)

    def alert(cam: str, v: float, delay: float, person: str = "lin", kind: str = "arrived") -> dict:
        t = clock0 + v  # the deciding frame's capture, paced
        iso = dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
        return {"camera": cam, "person": person, "kind": kind, "time": iso, "arrived_wall": t + delay,
                "extra": {"video_time_s": v}}

    alerts = [alert("cam1", gt_s + 0.6, 0.2), alert("cam1", gt_s + 3.0, 0.1, kind="recognised"),
              alert("cam1", period + gt_s + 0.4, 0.3), alert("cam1", gt_s + 1.0, 0.0, person="unknown"),
              alert("cam1", gt_s + 4.0, 0.0, kind="left")]
    lat, extra = bench.latencies(alerts, "lin", gt_s, period)
    assert extra == 1
    assert [(x.camera, x.loop) for x in lat] == [("cam1", 0), ("cam1", 1)]
    assert [round(x.video_s, 3) for x in lat] == [0.6, 0.4]
    assert [round(x.wall_s, 3) for x in lat] == [0.8, 0.7]  # video + time from capture to the sink
    assert lat[1].gt_wall == pytest.approx(clock0 + period + gt_s, abs=1e-3)


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0.0, 30.0, [0, 1, 2]),  # ground truths at 2.73, 11.93, 21.13 s
    (5.0, 30.0, [1, 2]),
    (5.0, 11.0, []),
    (-10.0, 2.0, []),
])
def test_expected_passes_are_those_delivered_in_the_window(start, end, expected):
    assert bench.expected_passes(0.0, 41 / 15, 138 / 15, start, end) == expected


@pytest.mark.parametrize(("share", "missing", "p95", "expected"), [
    (1.0, 0, 0.8, "pass"),
    (0.95, 0, 1.0, "pass"),
    (0.5, 0, 0.8, "FAIL: processed 50% of frames"),
    (1.0, 2, 1.4, "FAIL: 2 alerts missing, p95 1.40 s"),
    (1.0, 0, math.nan, "FAIL: p95 nan s"),  # no alert at all never passes
])
def test_verdict_names_what_failed(share, missing, p95, expected):
    assert bench.verdict(share, missing, p95, 0.95, 1.0) == expected
