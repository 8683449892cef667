"""The one decision rule of every claim, on constructed numbers: a difference counts only when its interval over
seeds excludes the threshold; one seed never decides; "at least one of K" is corrected for K."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from repro.errors import ReproError
from repro.experiments.claims import (
    Cell, Check, Contrast, all_of, any_of, at_least, best, better, cells, decide, difference, first_reaching, greater,
    leading_up_to, less, matching_factors, no_gain, size_to_reach)

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
