"""closest_hidden_size against a brute-force search over every hidden size (issue 25): the
count nearest the budget, a tie going to the SMALLER hidden size (as documented)."""

from __future__ import annotations

import pytest

import tasks
import variants
from gatebench.config.param_budget import closest_hidden_size, match_hidden_size
from gatebench.training.model import SequenceModel


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
        lambda h: h * h + 3 * h + 2,  # leading coefficient 1
        lambda h: h * (h + 1) // 2,  # leading coefficient 1/2
        lambda h: h + 5,  # slope 1
    ],
    ids=["2h^2", "rnn", "lstm", "linear", "a=1", "a=1/2", "slope 1"],
)
def test_every_budget_gets_the_nearest_count_and_ties_the_smaller_hidden_size(count) -> None:
    ties = 0
    for budget in range(count(1), count(15)):
        expected = _brute_force(count, budget)
        assert closest_hidden_size(count, budget) == expected, budget
        h = expected[0]
        ties += abs(count(h + 1) - budget) == abs(count(h) - budget)
    assert ties > 0 or count(2) - count(1) == 1  # the tie rule was exercised (slope 1 has none)


def test_a_count_that_does_not_grow_gives_the_smallest_model() -> None:
    for budget in (7, 8, 100):
        assert closest_hidden_size(lambda h: 7, budget) == (1, 7)


def test_a_count_that_is_not_quadratic_is_refused() -> None:
    with pytest.raises(RuntimeError, match=r"^the model's parameter count is not quadratic in "
                       r"hidden_size$"):
        closest_hidden_size(lambda h: h**3, 50)


def test_the_encoder_width_counts_when_it_is_not_the_hidden_size() -> None:
    """encoder_size=7: the count is the whole SequenceModel's with a 7-wide encoder."""
    task = tasks.build("copy", length=5)
    variant = {"name": "gru"}

    def count(h: int) -> int:
        model = SequenceModel(task, {**variant, "hidden_size": h}, {}, encoder_size=7)
        return variants.count_parameters(model)

    for budget in (900, 2500):
        assert match_hidden_size(task, variant, budget, encoder_size=7) == _brute_force(
            count, budget
        )


def test_a_tie_goes_to_the_smaller_hidden_size() -> None:
    assert closest_hidden_size(lambda h: 2 * h * h, 25) == (3, 18)
    assert closest_hidden_size(lambda h: 10 * h + 5, 20) == (1, 15)
