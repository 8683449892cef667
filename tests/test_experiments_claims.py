"""The one decision rule of every claim, on constructed numbers: a difference counts only when its interval over
seeds excludes the threshold; one seed never decides; "at least one of K" is corrected for K."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from repro.errors import ReproError
from repro.experiments import claims
from repro.experiments.claims import (
    Cell,
    Check,
    Contrast,
    all_of,
    any_of,
    at_least,
    at_least_half,
    best,
    better,
    cells,
    decide,
    difference,
    first_reaching,
    greater,
    leading_up_to,
    less,
    matching_factors,
    no_gain,
    size_to_reach,
)

LOW = Cell((60.0, 60.5, 59.5))
HIGH = Cell((64.0, 64.5, 63.5))
NOISY = Cell((58.0, 66.0, 62.0))  # mean 62 with a wide spread


def test_the_interval_is_welchs():
    a, b = Cell((1.0, 2.0, 4.0, 3.5)), Cell((0.5, 0.7, 0.2))
    low, high = difference(a, b, "a - b").interval(0.05)
    expected = stats.ttest_ind(a.values, b.values, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high))


def test_a_difference_beyond_noise_decides_both_ways():
    assert decide(greater(HIGH, LOW, "DI - real"))[0] is True
    assert decide(greater(LOW, HIGH, "DI - real"))[0] is False  # the opposite beyond noise: "no"
    assert less(LOW, HIGH, "x").verdict() is True


def test_a_difference_within_noise_is_undecided():
    holds, evidence = decide(greater(NOISY, LOW, "DI - real"))
    assert holds is None
    assert evidence.startswith("DI - real +2 (95% CI [") and evidence.endswith("> 0: undecided")


def test_one_seed_never_decides():
    one = Cell((99.0,))
    assert greater(one, LOW, "x").verdict() is None and greater(LOW, one, "x").verdict() is None
    assert "1 seed: no interval" in greater(one, LOW, "x").evidence()
    assert all_of([greater(one, LOW, "x"), greater(HIGH, LOW, "y")]).verdict() is None


def test_no_difference_claims_use_the_margin():
    same = Cell((62.0, 62.1, 61.9))
    close = Cell((62.3, 62.4, 62.2))
    assert at_least(same, close, "DI - LECF").verdict() is True  # within 1 point, tightly measured
    assert no_gain(close, same, "KNN - real").verdict() is True
    assert at_least(LOW, HIGH, "DI - LECF").verdict() is False  # 4 points worse, beyond the margin
    assert no_gain(HIGH, LOW, "KNN - real").verdict() is False
    assert at_least(NOISY, Cell((62.0, 62.0, 62.0)), "x").verdict() is None  # too noisy to tell


def test_all_of_needs_every_part_and_fails_on_one_failure():
    assert all_of([greater(HIGH, LOW, "a"), greater(HIGH, LOW, "b")]).verdict() is True
    assert all_of([greater(HIGH, LOW, "a"), greater(NOISY, LOW, "b")]).verdict() is None
    assert all_of([greater(HIGH, LOW, "a"), greater(LOW, HIGH, "b"), greater(NOISY, LOW, "c")]).verdict() is False


def test_any_of_is_corrected_for_the_number_of_tries():
    # a gain that counts at 95 % when tried alone, but not at the 1 - 0.05 / 7 level of one try of seven
    gain = Cell((61.0, 62.5, 61.9, 62.7))
    alone = greater(gain, LOW, "X - default")
    assert alone.verdict() is True and alone.verdict(0.05 / 7) is None
    tries = [alone] + [greater(LOW, LOW, f"Y{i} - default") for i in range(6)]
    judgement = any_of(tries)
    assert judgement.verdict() is None
    assert "at least 1 of 7" in judgement.evidence() and "99.3% CI" in judgement.evidence()
    assert any_of([greater(HIGH, LOW, "a"), greater(LOW, LOW, "b")]).verdict() is True
    assert any_of([greater(LOW, HIGH, "a"), less(HIGH, LOW, "b")]).verdict() is False
    nothing = any_of([], empty="no shifted dataset measured")
    assert decide(nothing) == (None, "no shifted dataset measured")


def test_contrasts_of_several_cells():
    # (last - third) - (third - first): the late gain below the early gain
    first, third, last = Cell((50.0, 50.4, 49.6)), Cell((60.0, 60.4, 59.6)), Cell((61.0, 61.4, 60.6))
    saturating = Contrast(((1.0, last), (-2.0, third), (1.0, first)), "late - early gain")
    assert saturating.estimate == pytest.approx(-9.0)
    assert Check(saturating, above=False).verdict() is True
    exact = Contrast(((1.0, Cell((3.0, 3.0))), (-1.0, Cell((5.0, 5.0)))), "counts")
    assert exact.interval(0.05) == (-2.0, -2.0) and Check(exact, above=False).verdict() is True


def test_metric_direction():
    assert better("fid", LOW, HIGH, "FID").verdict() is True
    assert better("precision", LOW, HIGH, "precision").verdict() is False


def test_cells_group_the_seeds_and_best_picks_the_highest_mean():
    frame = pd.DataFrame({"w": [0, 0, 4, 4, 8], "value": [50.0, 52.0, 60.0, 62.0, 40.0]})
    found = cells(frame, "w")
    assert found[0].values == (50.0, 52.0) and found[8].seeds == 1 and found[0].std == pytest.approx(1.41421, 1e-4)
    assert best(found) == 4 and str(found[8]) == "40 (1 seed)"
    with pytest.raises(ReproError, match="no recorded rows"):
        cells(frame.iloc[0:0], "w")


def test_reported_numbers_of_curves():
    assert size_to_reach([100, 400], [50.0, 70.0], 60.0) == pytest.approx(200.0)
    assert size_to_reach([100, 400], [50.0, 70.0], 80.0) is None
    factors = matching_factors([100, 200, 400], real=[50.0, 60.0, 70.0], synthetic=[60.0, 75.0, 80.0])
    assert [(f.size, f.lower_bound) for f in factors] == [(100, False), (200, True)]
    assert factors[0].factor == pytest.approx(2.0) and factors[1].factor == pytest.approx(2.0)
    assert leading_up_to([100, 200, 400], [50.0, 60.0, 70.0], [55.0, 61.0, 69.0]) == 200
    assert leading_up_to([100, 200], [50.0, 60.0], [49.0, 61.0]) is None
    curve = {1: Cell((40.0,)), 3: Cell((61.0,)), 5: Cell((62.0,))}
    assert first_reaching(curve, 60.0) == 3 and first_reaching({1: Cell((40.0,))}, 60.0) is None


def c(mean: float, spread: float = 0.3, seeds: int = 3) -> Cell:
    """A cell of ``seeds`` values around ``mean`` (one seed: no spread)."""
    return Cell((mean,) if seeds == 1 else tuple(mean + spread * (i - (seeds - 1) / 2) for i in range(seeds)))


def test_everywhere_names_what_was_not_measured():
    acc = {(1, "DI"): c(60), (1, "Real"): c(50), (2, "DI"): c(70), (2, "Real"): c(65)}
    assert claims.everywhere(acc, [1, 2], "DI", "Real").verdict() is True
    acc[(2, "Real")] = c(75)
    assert claims.everywhere(acc, [1, 2], "DI", "Real").verdict() is False
    missing = claims.everywhere(acc, [1, 3], "DI", "Real")
    assert missing.verdict() is None and "not both measured at ['3']" in missing.evidence()


def test_figure1_about_3x_and_steady_growth():
    real = c(70)
    assert claims.matches_real_at_about(real, {1: c(60), 3: c(70.2), 5: c(72)}).verdict() is True
    assert claims.matches_real_at_about(real, {1: c(72), 3: c(75), 5: c(76)}).verdict() is False  # reaches at 1x
    assert claims.matches_real_at_about(real, {1: c(60), 10: c(72)}).verdict() is None  # no size in 2x..5x
    assert claims.grows_steadily({1: c(60), 2: c(63), 5: c(66)}).verdict() is True
    assert claims.grows_steadily({1: c(60), 2: c(66), 5: c(63)}).verdict() is False  # a 3-point fall
    assert claims.grows_steadily({1: c(60, seeds=1), 5: c(66, seeds=1)}).verdict() is None


def test_figure6_comparisons_by_size():
    acc = {
        ("cifar10", 50, "DI"): c(40),
        ("cifar10", 50, "Real"): c(30),
        ("cifar10", 100, "DI"): c(45),
        ("cifar10", 100, "Real"): c(39.5),
        ("cifar10", 200, "DI"): c(50),
        ("cifar10", 200, "Real"): c(45),
    }
    assert claims.beats_at_sizes(acc, ["cifar10"], "DI", "Real", smallest_only=True).verdict() is True
    assert claims.beats_at_sizes(acc, ["cifar10"], "DI", "Real").verdict() is True
    # DI from 50 (40) vs real from 100 (39.5): as good; DI from 100 (45) vs real from 200 (45): as good
    assert claims.less_data_for_the_same_accuracy(acc, ["cifar10"], "DI", "Real").verdict() is True
    acc[("cifar10", 200, "Real")] = c(52)
    assert claims.less_data_for_the_same_accuracy(acc, ["cifar10"], "DI", "Real").verdict() is False
    one = {key: c(cell.mean, seeds=1) for key, cell in acc.items()}
    assert claims.less_data_for_the_same_accuracy(one, ["cifar10"], "DI", "Real").verdict() is None
    assert claims.beats_at_sizes(acc, [], "DI", "Real").verdict() is None


def test_a_growing_gap():
    acc = {
        ("stl10", 1, "DI"): c(50),
        ("stl10", 1, "LECF"): c(45),
        ("stl10", 10, "DI"): c(70),
        ("stl10", 10, "LECF"): c(50),
    }
    assert claims.gap_grows(acc, ["stl10"], "DI", "LECF").verdict() is True
    acc[("stl10", 10, "LECF")] = c(67)  # DI still ahead, by less
    assert claims.gap_grows(acc, ["stl10"], "DI", "LECF").verdict() is False
    assert claims.gap_grows(acc, [], "DI", "LECF").verdict() is None


def test_figure8_judgements():
    sat = {(c_, w): c(v) for w in (1, 2) for c_, v in ((100, 50), (300, 60), (1000, 61))}
    assert claims.saturates(sat, [100, 300, 1000], [1, 2], total_steps=1000).verdict() is True
    steep = {**sat, (1000, 1): c(80), (1000, 2): c(80)}
    assert claims.saturates(steep, [100, 300, 1000], [1, 2], total_steps=1000).verdict() is False
    assert claims.saturates(sat, [100, 1000], [1, 2], total_steps=1000).verdict() is None
    steps = {10: c(60), 50: c(62), 100: c(62.2)}
    assert claims.no_setting_beats(steps, [10, 50, 100], 50, "steps").verdict() is True
    assert claims.no_setting_beats({**steps, 100: c(66)}, [10, 50, 100], 50, "steps").verdict() is False
    assert claims.no_setting_beats(steps, [10, 100], 25, "steps").verdict() is None
    noise = {(1, 0.0): c(60), (1, 0.2): c(60.1), (3, 0.0): c(62), (3, 0.2): c(66)}
    assert claims.best_at_first_then_some_beats(noise, [1, 3], [0.0, 0.2], "lambda").verdict() is True
    assert (
        claims.best_at_first_then_some_beats({**noise, (1, 0.2): c(65)}, [1, 3], [0.0, 0.2], "lambda").verdict()
        is False
    )
    assert claims.best_at_first_then_some_beats(noise, [3], [0.0, 0.2], "lambda").verdict() is None


def test_image_metric_judgements():
    quality = {
        (0.0, "fid"): c(10, 0.1),
        (0.4, "fid"): c(14, 0.1),
        (0.0, "recall"): c(0.5, 0.01),
        (0.4, "recall"): c(0.4, 0.01),
        (0.1, "fid"): c(11, 0.1),
        (0.1, "recall"): c(0.45, 0.01),
    }
    assert claims.degrades(quality, ["fid", "recall"], 0.0, 0.4, "lambda").verdict() is True
    assert claims.degrades(quality, ["fid"], 0.4, 0.0, "lambda").verdict() is False
    tradeoff = {
        (a, m): c(v, 0.01)
        for (a, m), v in {
            (0.0, "fid"): 10,
            (0.1, "fid"): 9,
            (0.4, "fid"): 12,
            (0.0, "precision"): 0.7,
            (0.1, "precision"): 0.72,
            (0.4, "precision"): 0.6,
            (0.0, "recall"): 0.3,
            (0.1, "recall"): 0.35,
            (0.4, "recall"): 0.5,
            (0.0, "coverage"): 0.5,
            (0.1, "coverage"): 0.6,
            (0.4, "coverage"): 0.55,
        }.items()
    }
    assert claims.quality_diversity_tradeoff(tradeoff).verdict() is True
    assert claims.quality_diversity_tradeoff({**tradeoff, (0.4, "coverage"): c(0.7, 0.01)}).verdict() is False
    assert claims.quality_diversity_tradeoff({k: v for k, v in tradeoff.items() if k[0] != 0.4}).verdict() is None
    table = {
        ("DI", "fid"): c(10),
        ("LECF 0.5", "fid"): c(15),
        ("DI", "recall"): c(0.6, 0.01),
        ("LECF 0.5", "recall"): c(0.5, 0.01),
    }
    assert claims.better_on_metrics(table, "DI", ["LECF 0.5"], ["fid", "recall"]).verdict() is True
    unmeasured = claims.better_on_metrics(table, "DI", ["LECF 0.5", "LECF 0.97"], ["fid"])
    assert unmeasured.verdict() is None and "LECF 0.97 or DI lacks ['fid']" in unmeasured.evidence()
    assert claims.better_on_metrics(table, "LECF 0.5", ["DI"], ["fid"]).verdict() is False


def test_interpolation_and_tables():
    acc = {
        (k, a): c(v)
        for (k, a), v in {(1, 0.0): 60, (1, 0.1): 61, (1, 0.4): 55, (5, 0.0): 62, (5, 0.1): 66, (5, 0.4): 60}.items()
    }
    assert claims.interpolation_helps(acc, [1, 5]).verdict() is True
    assert claims.interpolation_helps({**acc, (1, 0.4): c(65)}, [1, 5]).verdict() is False
    assert claims.interpolation_helps({k: v for k, v in acc.items() if k[1] != 0.4}, [1, 5]).verdict() is None
    rows = {"original": c(95), "r64": c(88), "r512": c(93)}
    assert claims.below_original_less_so_higher(rows, "original", ["r64", "r512"], "CIFAR10").verdict() is True
    flat = {**rows, "r512": c(88.1)}  # a flat curve no longer passes "less so at higher resolution"
    assert claims.below_original_less_so_higher(flat, "original", ["r64", "r512"], "CIFAR10").verdict() is None
    assert claims.mixing_helps_where_generated_underperforms(c(90), c(85), c(92), "CIFAR-10").verdict() is True
    # generated data alone above real: not the situation the claim is about
    assert claims.mixing_helps_where_generated_underperforms(c(90), c(93), c(94), "CIFAR-10").verdict() is False


def test_ladders_retrieval_and_at_least_half():
    acc = {("cifar10", f"DI {p}"): c(v) for p, v in ((10, 50), (30, 60), (100, 70))}
    assert claims.ladder_rises(acc, ["cifar10"], ["DI 10", "DI 30", "DI 100"]).verdict() is True
    assert claims.ladder_rises(acc, ["cifar10"], ["DI 100", "DI 30"]).verdict() is False
    assert claims.ladder_rises(acc, ["cifar10"], ["DI 100"]).verdict() is None
    shots = {(k, m): c(v) for k in (1, 2) for m, v in (("real", 40), ("DI", 50), ("KNN", 40.2))}
    assert claims.retrieval_adds_nothing(shots, [1, 2], ["KNN"], "real", "DI").verdict() is True
    assert claims.retrieval_adds_nothing({**shots, (2, "KNN"): c(55)}, [1, 2], ["KNN"], "real", "DI").verdict() is False
    assert claims.retrieval_adds_nothing(shots, [1, 2], [], "real", "DI").verdict() is None
    four = [greater(HIGH, LOW, "a"), greater(HIGH, LOW, "b"), greater(LOW, LOW, "c"), greater(LOW, LOW, "d")]
    assert at_least_half(four).verdict() is True
    assert (
        at_least_half(
            [greater(LOW, HIGH, "a"), greater(LOW, HIGH, "b"), greater(LOW, HIGH, "c"), greater(HIGH, LOW, "d")]
        ).verdict()
        is False
    )
