"""The built-in cells; importing this package registers them."""

from variants.cells.elman import ElmanCell
from variants.cells.gru import GRUCell, GRUChoCell
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
from variants.cells.minimal import MinGRUCell, MinLSTMCell

__all__ = [
    "CIFGCell", "ElmanCell", "FGRCell", "GRUCell", "GRUChoCell", "LSTMCell", "NFGCell",
    "NIAFCell", "NIGCell", "NOAFCell", "NOGCell", "PeepholeCell",
    "MinGRUCell", "MinLSTMCell",
]
