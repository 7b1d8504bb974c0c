"""Report statistics at their small-sample edges, against closed forms (not scipy's own calls).

Student t with 1 degree of freedom is Cauchy: its 0.975 quantile is tan(0.475 pi). With 2
degrees of freedom the two-sided p of t is 1 - |t| / sqrt(2 + t^2). Exact Mann-Whitney U with
n1 = 1: U is uniform on {0..n2}, so the two-sided p of U = 0 is 2 / (n2 + 1), capped at 1.
"""

from __future__ import annotations

import math

import pytest

from gatebench.report.statistics import mann_whitney_p, welch_p


def test_welch_two_against_two_and_one_side_without_spread() -> None:
    # t = -2 / sqrt(1/4 + 1/4) = -2 sqrt(2), Welch df = 2
    assert welch_p([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 - math.sqrt(8 / 10), rel=1e-9)
    # t = -2 / sqrt(0 + 1/3) = -2 sqrt(3), Welch df = (1/3)^2 / ((1/3)^2 / 2) = 2
    assert welch_p([1.0, 1.0, 1.0], [2.0, 3.0, 4.0]) == pytest.approx(
        1 - math.sqrt(12 / 14), rel=1e-9)
    assert welch_p([2.0, 3.0, 4.0], [1.0, 1.0, 1.0]) == pytest.approx(
        1 - math.sqrt(12 / 14), rel=1e-9)


@pytest.mark.parametrize("a,b", [
    ([1.0], [2.0, 3.0, 4.0]), ([2.0, 3.0, 4.0], [1.0]), ([1.0], [2.0]), ([], [1.0, 2.0]),
    ([1.0, 1.0], [2.0, 2.0]), ([1.0, math.nan], [2.0, 3.0]),
])  # fmt: skip
def test_welch_is_nan_below_two_values_a_side_or_without_any_spread(a, b) -> None:
    assert math.isnan(welch_p(a, b))


def test_mann_whitney_exact_small_samples() -> None:
    assert mann_whitney_p([1.0], [2.0]) == pytest.approx(1.0)
    assert mann_whitney_p([1.0], [2.0, 3.0]) == pytest.approx(2 / 3)
    assert mann_whitney_p([1.0], [2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 5)
    assert mann_whitney_p([2.0, 3.0, 4.0, 5.0], [1.0]) == pytest.approx(2 / 5)
    assert math.isnan(mann_whitney_p([], [1.0, 2.0]))
    assert math.isnan(mann_whitney_p([1.0, 2.0], [math.nan]))


def test_seeds_needed_is_the_first_n_whose_best_outcome_beats_alpha() -> None:
    """Exact Mann-Whitney's best two-sided p with n vs n runs is 2 / C(2n, n): 0.33 (n = 2),
    0.1 (3), 0.029 (4), 0.0079 (5), 0.0022 (6), 0.00058 (7), 0.00016 (8)."""
    from gatebench.report.statistics import seeds_needed

    def best(n: int, m: int) -> float:
        return 2 / math.comb(n + m, n)

    assert seeds_needed(best, 0.05) == 4  # 2/70 = 0.029 < 0.05 <= 2/20
    assert seeds_needed(best, 0.05 / 91) == 8  # 2/12870 < 0.00055 <= 2/3432
    assert seeds_needed(best, 0.1) == 4  # strictly below alpha: 2/20 = 0.1 is not enough
    assert seeds_needed(best, 2 / 6 + 1e-9) == 2  # n starts at 2
    assert seeds_needed(best, 1e-12, most=8) is None
    assert seeds_needed(best, 2 / 12870 + 1e-12, most=8) == 8  # `most` itself is tried
