"""Intervals, slices and paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stats import (
    Interval,
    Summary,
    bootstrap_interval,
    mean_interval,
    min_detectable_difference,
    paired_difference,
    per_slice,
    summarize,
    too_small_to_resolve,
    wilson_interval,
)


# ---------------------------------------------------------------- Wilson


def test_wilson_matches_known_values():
    ci = wilson_interval(8, 10)
    assert ci.method == "wilson"
    assert ci.low == pytest.approx(0.4902, abs=5e-4)
    assert ci.high == pytest.approx(0.9433, abs=5e-4)
    ci = wilson_interval(50, 100)
    assert (ci.low, ci.high) == (pytest.approx(0.4038, abs=5e-4), pytest.approx(0.5962, abs=5e-4))


def test_wilson_stays_inside_zero_one_at_the_extremes():
    zero, full = wilson_interval(0, 20), wilson_interval(20, 20)
    assert zero.low == 0.0 and 0 < zero.high < 0.2
    assert full.high == 1.0 and 0.8 < full.low < 1.0


def test_wilson_with_no_examples_is_the_whole_range():
    assert wilson_interval(0, 0) == Interval(0.0, 1.0, "wilson")


def test_wilson_rejects_more_successes_than_trials():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_is_deterministic_for_a_seed_and_varies_with_it():
    values = np.random.default_rng(1).uniform(size=50)
    a = bootstrap_interval(values, seed=3)
    assert a == bootstrap_interval(list(values), seed=3)
    assert a != bootstrap_interval(values, seed=4)
    assert a.method == "bootstrap"


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(7)
    small, large = rng.uniform(size=30), rng.uniform(size=3000)
    ci_small, ci_large = bootstrap_interval(small), bootstrap_interval(large)
    assert ci_small.low < small.mean() < ci_small.high
    assert ci_large.low < large.mean() < ci_large.high
    assert (ci_large.high - ci_large.low) < (ci_small.high - ci_small.low) / 5


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    trials, covered = 200, 0
    for seed in range(trials):
        sample = rng.beta(2, 5, size=80)  # true mean 2/7
        ci = bootstrap_interval(sample, resamples=1000, seed=seed)
        covered += ci.low <= 2 / 7 <= ci.high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_of_identical_values_is_a_point():
    ci = bootstrap_interval([0.5] * 10)
    assert ci.low == pytest.approx(0.5) and ci.high == pytest.approx(0.5)


def test_bootstrap_of_a_large_split_is_deterministic_across_memory_blocks():
    values = np.random.default_rng(2).uniform(size=5000)  # forces block-wise resampling
    assert bootstrap_interval(values, resamples=600) == bootstrap_interval(values, resamples=600)


def test_mean_interval_uses_wilson_for_zero_one_scores_and_bootstrap_otherwise():
    assert mean_interval([1, 0, 1, 1, 0.0, 1.0]).method == "wilson"
    assert mean_interval([True, False]).method == "wilson"
    assert mean_interval([1, 0.5, 0]).method == "bootstrap"
    assert mean_interval([1] * 8 + [0] * 2) == wilson_interval(8, 10)


def test_summarize_reports_n_mean_and_interval():
    summary = summarize([1, 1, 0, 1])
    assert summary == Summary(n=4, score=0.75, ci95=wilson_interval(3, 4))
    empty = summarize([])
    assert (empty.n, empty.score, empty.ci95) == (0, 0.0, Interval(0.0, 1.0, "wilson"))


# ---------------------------------------------------------------- slices


def test_per_slice_counts_a_multi_tag_example_in_each_of_its_slices():
    values = [1, 0, 1, 1]
    tags = [["refund"], ["refund", "late_delivery"], ["late_delivery"], []]
    out = per_slice(values, tags)
    assert list(out) == ["late_delivery", "refund"]
    assert (out["refund"].n, out["refund"].score) == (2, 0.5)
    assert (out["late_delivery"].n, out["late_delivery"].score) == (2, 0.5)


def test_per_slice_counts_a_repeated_tag_once_and_reads_a_bare_string_as_one_tag():
    out = per_slice([1, 0], [["a", "a"], "abc"])
    assert out["a"].n == 1
    assert out["abc"].n == 1 and "b" not in out


def test_per_slice_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        per_slice([1, 0], [["a"]])


# ---------------------------------------------------------------- paired difference


def test_paired_difference_is_positive_when_the_candidate_is_better():
    baseline = [0, 0, 1, 0, 1, 0, 0, 1, 0, 0] * 10
    candidate = [1, 0, 1, 1, 1, 0, 1, 1, 0, 1] * 10
    diff, ci = paired_difference(baseline, candidate)
    assert diff == pytest.approx(0.4)
    assert 0 < ci.low < diff < ci.high
    back, back_ci = paired_difference(candidate, baseline)
    assert back == pytest.approx(-0.4)
    assert back_ci.high < 0


def test_paired_difference_interval_is_narrow_when_pairs_move_together():
    rng = np.random.default_rng(5)
    baseline = rng.uniform(0.2, 0.8, size=200)
    candidate = baseline + 0.05  # every example up by the same amount
    diff, ci = paired_difference(baseline, candidate)
    assert diff == pytest.approx(0.05)
    assert ci.low == pytest.approx(0.05) and ci.high == pytest.approx(0.05)


def test_paired_difference_rejects_unpaired_lengths():
    with pytest.raises(ValueError):
        paired_difference([1, 0], [1])


# ---------------------------------------------------------------- split size


def test_min_detectable_difference_is_the_wilson_half_width():
    ci = wilson_interval(30, 60)
    assert min_detectable_difference(60) == pytest.approx((ci.high - ci.low) / 2)
    assert min_detectable_difference(60) == pytest.approx(0.1226, abs=1e-3)
    assert min_detectable_difference(2000) < min_detectable_difference(60)


def test_sixty_examples_are_too_small_to_resolve_ten_points_and_two_thousand_are_not():
    assert too_small_to_resolve(60) is True
    assert too_small_to_resolve(2000) is False


def test_too_small_to_resolve_follows_the_documented_rule():
    # sqrt(2) * half-width > difference: flips between 188 and 189 examples for 10 points.
    assert too_small_to_resolve(188) is True
    assert too_small_to_resolve(189) is False
    assert too_small_to_resolve(0) is True
    assert too_small_to_resolve(2000, difference=0.02) is True
