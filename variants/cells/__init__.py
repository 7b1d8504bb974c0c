"""The built-in cells; importing this package registers them."""

from variants.cells.elman import ElmanCell
from variants.cells.gru import GRUCell, GRUChoCell
from variants.cells.gru_gates import GRU1Cell, GRU2Cell, GRU3Cell
from variants.cells.indrnn import IndRNNCell
from variants.cells.janet import JANETCell
from variants.cells.lstm import (
    CIFGCell,
    FGRCell,
    LSTMCell,
    NFGCell,
    NIAFCell,
    NIGCell,
    NOAFCell,
    NOGCell,
    PeepholeCell,
)
from variants.cells.mgu import MGUCell
from variants.cells.minimal import MinGRUCell, MinLSTMCell
from variants.cells.slstm import SLSTMCell
from variants.cells.urlstm import URLSTMCell

__all__ = [
    "CIFGCell", "ElmanCell", "FGRCell", "GRUCell", "GRUChoCell", "LSTMCell", "NFGCell",
    "NIAFCell", "NIGCell", "NOAFCell", "NOGCell", "PeepholeCell",
    "GRU1Cell", "GRU2Cell", "GRU3Cell", "IndRNNCell", "JANETCell", "MGUCell", "URLSTMCell",
    "MinGRUCell", "MinLSTMCell", "SLSTMCell",
]
