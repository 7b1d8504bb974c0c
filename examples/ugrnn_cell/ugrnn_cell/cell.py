import torch

from variants import Cell


class UGRNNCell(Cell):
    """Update-gate RNN (Collins et al. 2017): h = g*h_prev + (1-g)*tanh(c)."""
    name = "ugrnn"                 # the registry line
    blocks = ("c", "g")            # H-sized blocks stacked in W_ih, W_hh, biases
    state_names = ("h",)           # ("h", "c") for an LSTM-like state

    def pointwise(self, xp_t, hp_t, carry, extra):
        c, g = (xp_t + hp_t).chunk(2, 1)
        c, g = torch.tanh(c), torch.sigmoid(g)
        return (c + g * (carry[0] - c),)
