"""Bad input gives a one-line ValueError naming the option (or shape) and what it accepts."""

from __future__ import annotations

import pytest
import torch

import variants


def _raises(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError, match=match) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_variant_lists_names() -> None:
    message = _raises("unknown variant 'lstn'", variants.build, "lstn", 3, 4)
    for name in variants.names():
        assert name in message


def test_names_are_the_contract_list() -> None:
    assert variants.names() == sorted(variants.names())
    assert {"cifg", "fgr", "gru", "gru_cho", "lstm", "niaf", "nfg", "nig", "noaf", "nog",
            "peephole", "rnn"} <= set(variants.names())


@pytest.mark.parametrize("name,kwargs,match,accepted", [
    ("lstm", {"hidden_size": 0}, "hidden_size=0", "integer >= 1"),
    ("lstm", {"input_size": 2.5}, "input_size=2.5", "integer >= 1"),
    ("lstm", {"recurrent_activation": "foo"}, "recurrent_activation='foo'", "hard_sigmoid"),
    ("gru", {"activation": "foo"}, "activation='foo'", "tanh"),
    ("rnn", {"nonlinearity": "sigmoid"}, "nonlinearity='sigmoid'", "relu"),
    ("lstm", {"num_layers": 0}, "num_layers=0", "integer >= 1"),
    ("lstm", {"dropout": 1.5}, "dropout=1.5", "[0.0, 1.0]"),
    ("lstm", {"recurrent_dropout": 1.0}, "recurrent_dropout=1.0", "[0.0, 1.0)"),
    ("lstm", {"bidirectional": "yes"}, "bidirectional='yes'", "True, False"),
    ("lstm", {"kernel_initializer": "he"}, "kernel_initializer='he'", "glorot_uniform"),
    ("lstm", {"recurrent_initializer": "chrono"}, "recurrent_initializer='chrono'", "orthogonal"),
    ("lstm", {"bias_initializer": "orthogonal"}, "bias_initializer='orthogonal'", "chrono"),
    ("lstm", {"bias_initializer": "chrono"}, "chrono_t_max is required", "number >= 2"),
    ("lstm", {"backend": "fused"}, "backend='fused'", "bptt"),
    ("lstm", {"foo": 1}, "unknown option 'foo'", "recurrent_dropout"),
    ("lstm", {"proj_size": 4}, "unknown option 'proj_size'", "num_layers"),
    ("rnn", {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation", "nonlinearity"),
    ("lstm", {"nonlinearity": "relu"}, "nonlinearity='relu' does not apply", "activation"),
    ("gru", {"forget_bias": 1.0}, "forget_bias", "forget gate"),
    ("nfg", {"bias_initializer": "chrono", "chrono_t_max": 10}, "chrono", "forget gate"),
    ("lstm", {"bias": False, "forget_bias": 1.0}, "forget_bias", "bias=True"),
    ("lstm", {"use_bias": False, "bias": True}, "use_bias", "alias"),
    ("peephole", {"peepholes": "no"}, "peepholes='no'", "True, False"),
])
def test_bad_option(name: str, kwargs: dict, match: str, accepted: str) -> None:
    sizes = {"input_size": kwargs.pop("input_size", 3), "hidden_size": kwargs.pop("hidden_size", 4)}
    message = _raises(match.replace("(", r"\(").replace("[", r"\["), variants.build, name,
                      sizes["input_size"], sizes["hidden_size"], **kwargs)
    assert accepted in message


def test_neutral_values_of_other_cells_options_are_accepted() -> None:
    variants.build("rnn", 3, 4, recurrent_activation="sigmoid", activation="tanh")
    variants.build("gru", 3, 4, use_bias=False)


@pytest.mark.parametrize("shape,batch_first", [((5, 4), False), ((5, 3, 2, 3), False),
                                               ((5, 3, 4), False), ((3, 5, 4), True),
                                               ((0, 2, 3), False)])
def test_bad_input_shape_says_what_was_expected(shape: tuple, batch_first: bool) -> None:
    layer = variants.build("lstm", 3, 4, batch_first=batch_first)
    expected = "at least one time step" if 0 in shape else (
        "(B, T, input_size)" if batch_first else "(T, B, input_size)")
    message = _raises("lstm: expected", layer, torch.zeros(shape))
    assert expected in message
    if 0 not in shape:
        assert "input_size=3" in message and str(shape) in message


def test_bad_state_says_what_was_expected() -> None:
    layer = variants.build("lstm", 3, 4, num_layers=2)
    x = torch.zeros(5, 2, 3)
    _raises(r"state must be a tuple \(h, c\)", layer, x, torch.zeros(2, 2, 4))
    _raises(r"state c must have shape \(2, 2, 4\)", layer, x,
            (torch.zeros(2, 2, 4), torch.zeros(1, 2, 4)))
    gru = variants.build("gru", 3, 4)
    _raises(r"state h must have shape \(1, 2, 4\)", gru, x, torch.zeros(1, 3, 4))
