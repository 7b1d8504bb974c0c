"""closest_hidden_size against a brute-force search over every hidden size (issue 25): the
count nearest the budget, a tie going to the SMALLER hidden size (as documented)."""

from __future__ import annotations

import pytest

from gatebench.config.param_budget import closest_hidden_size


def _brute_force(count, budget: int) -> tuple[int, int]:
    best = min(range(1, 30), key=lambda h: (abs(count(h) - budget), h))
    return best, count(best)


@pytest.mark.parametrize(
    "count",
    [
        lambda h: 2 * h * h,  # 18 and 32 are both 7 from 25
        lambda h: 2 * h * h + 6 * h + 1,  # rnn on adding: steps 4H + 8, even: a tie midway
        lambda h: 8 * h * h + 12 * h + 1,  # lstm on adding
        lambda h: 10 * h + 5,  # linear: 15 and 25 are both 5 from 20
    ],
    ids=["2h^2", "rnn", "lstm", "linear"],
)
def test_every_budget_gets_the_nearest_count_and_ties_the_smaller_hidden_size(count) -> None:
    ties = 0
    for budget in range(count(1), count(15)):
        expected = _brute_force(count, budget)
        assert closest_hidden_size(count, budget) == expected, budget
        h = expected[0]
        ties += abs(count(h + 1) - budget) == abs(count(h) - budget)
    assert ties > 0  # the tie rule was exercised


def test_a_tie_goes_to_the_smaller_hidden_size() -> None:
    assert closest_hidden_size(lambda h: 2 * h * h, 25) == (3, 18)
    assert closest_hidden_size(lambda h: 10 * h + 5, 20) == (1, 15)
