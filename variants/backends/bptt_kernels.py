"""Which BPTT kernel serves which cell, and the weights it takes from a layer."""

from __future__ import annotations

from torch import Tensor

from variants.backends.bptt import BPTTKernel
from variants.backends.bptt_gru import GRUChoKernel, GRUKernel
from variants.backends.bptt_lstm import LSTMKernel, LSTMSpec
from variants.backends.bptt_rnn import ElmanKernel
from variants.cell import Cell
from variants.cells.elman import ElmanCell
from variants.cells.gru import GRUCell, GRUChoCell
from variants.cells.lstm import LSTMCell
from variants.engine import LayerWeights


def lstm_spec(cell: LSTMCell) -> LSTMSpec:
    """The `LSTMSpec` of a configurable LSTM cell (any Greff preset)."""
    gates = tuple(cell.sigmoid_gates)
    return LSTMSpec(
        blocks=tuple(cell.blocks),
        coupled=bool(cell.coupled),
        peephole_gates=gates if cell.peepholes else (),
        full_gate_recurrence=gates if cell.full_gate_recurrence else (),
        input_activation=cell.activation if cell.input_activation else None,
        output_activation=cell.activation if cell.output_activation else None,
        recurrent_activation=cell.recurrent_activation,
    )


def kernel_for(cell: Cell) -> BPTTKernel:
    """The BPTT kernel of `cell`: its own `bptt_kernel()` if it has one, else a built-in one."""
    own = getattr(cell, "bptt_kernel", None)
    if own is not None:
        return own()
    if isinstance(cell, ElmanCell):
        return ElmanKernel(cell.nonlinearity)
    if isinstance(cell, GRUChoCell):
        return GRUChoKernel(cell.activation, cell.recurrent_activation)
    if isinstance(cell, GRUCell):
        return GRUKernel(cell.activation, cell.recurrent_activation)
    if isinstance(cell, LSTMCell):
        return LSTMKernel(lstm_spec(cell))
    raise ValueError(
        f"backend='bptt' has no kernel for cell {cell.name!r}; accepted: cells with a "
        "bptt_kernel() method or the built-in rnn/lstm/gru families (else backend='reference')"
    )


def has_kernel(cell: Cell) -> bool:
    """Whether `kernel_for(cell)` can serve this cell."""
    return hasattr(cell, "bptt_kernel") or isinstance(cell, (ElmanCell, GRUCell, LSTMCell))


def kernel_weights(cell: Cell, kernel: BPTTKernel, weights: LayerWeights) -> tuple[Tensor, ...]:
    """The tensors after the state that `kernel.forward` takes, in its order."""
    own = getattr(cell, "bptt_weights", None)
    if own is not None:
        return tuple(own(weights))
    if isinstance(kernel, GRUChoKernel) or isinstance(kernel, ElmanKernel):
        return (weights.weight_hh,)
    if isinstance(kernel, GRUKernel):
        if weights.bias_hh is None:
            return (weights.weight_hh,)
        return (weights.weight_hh, weights.bias_hh)
    if isinstance(kernel, LSTMKernel):
        tensors = [weights.weight_hh]
        if kernel.spec.peephole_gates:
            tensors.append(weights.extra["weight_peephole"])
        if kernel.spec.full_gate_recurrence:
            tensors.append(weights.extra["weight_gate_hh"])
        return tuple(tensors)
    raise ValueError(f"backend='bptt': cell {cell.name!r} needs a bptt_weights() method")
