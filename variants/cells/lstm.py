"""One configurable LSTM cell and its presets: lstm, peephole, cifg and Greff et al.'s variants.

Equations (Greff et al. 2017, "LSTM: A Search Space Odyssey", Sec. 2; s = recurrent_activation,
act = activation, p_* diagonal peepholes, * elementwise):

    i = s(W_i x + R_i h_prev + p_i * c_prev + b_i)
    f = s(W_f x + R_f h_prev + p_f * c_prev + b_f)
    g = act(W_g x + R_g h_prev + b_g)
    c = f * c_prev + i * g
    o = s(W_o x + R_o h_prev + p_o * c + b_o)          # peephole on the NEW c
    h = o * act(c)

Blocks are stacked in torch's order i, f, g, o, skipping absent gates, so `lstm` loads a
``torch.nn.LSTM`` state_dict. Presets (Greff's names; V = `peephole`, NP = `lstm`):

    lstm      no peepholes (NP; torch.nn.LSTM, Gers et al. 2000)
    peephole  V: peepholes p_i, p_f on c_prev and p_o on c (Gers & Schmidhuber 2000)
    cifg      V with coupled gates, f = 1 - i (3 blocks i, g, o)
    nig       V with i = 1      nfg  V with f = 1      nog  V with o = 1
    niaf      V with g = identity (no input activation)
    noaf      V with h = o * c (no output activation)
    fgr       V with full gate recurrence: i, f, o also see the previous step's [i, f, o]

Extra parameters (per layer/direction, suffix ``_l{k}`` / ``_l{k}_reverse``):
``weight_peephole`` (n, H): one row per present gate among i, f, o, in that order
(peephole: rows p_i, p_f, p_o; cifg: p_i, p_o). ``weight_gate_hh`` (n*H, n*H) for fgr: row
blocks are the receiving gates, column blocks the previous step's gates, both in order i, f, o.
fgr's previous gates start at zero and are internal: the returned state is (h, c) only.
The option ``peepholes`` (bool) turns peepholes on/off for any preset (e.g. Olah's peephole-free
CIFG: ``build("cifg", ..., peepholes=False)``).

Recorded gates (`variants.recording`): i, f, o (those present) and the candidate g; cifg records
its f = 1 - i. A gate a variant removes (nig's i, nfg's f, nog's o) is the constant 1: it is not
recorded (it carries no information and would read as 100% saturated) but listed in
``constant_gates``, so retention still uses it (nfg: f = 1, retention 1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from variants.activations import ACTIVATIONS, RECURRENT_ACTIVATIONS, get_activation
from variants.cell import Carry, Cell, StepWeights


class LSTMCell(Cell):
    """LSTM with forget gate; flags below select Greff et al.'s variants (see module docstring)."""

    name = "lstm"
    paper = "Hochreiter & Schmidhuber 1997; Gers et al. 2000 (torch.nn.LSTM)"
    paper_equations = ("i, f, o = s(W x + R h + b); g = tanh(W_g x + R_g h + b_g); "
                       "c = f c_prev + i g; h = o tanh(c)")
    state_names = ("h", "c")
    options = {"activation": "tanh", "recurrent_activation": "sigmoid", "peepholes": False}
    input_gate = True
    forget_gate = True
    output_gate = True
    coupled = False  # CIFG: f = 1 - i
    input_activation = True
    output_activation = True
    full_gate_recurrence = False
    math_members = (*Cell.math_members, "equations", "act", "gate")

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        if not isinstance(self.peepholes, bool):
            raise ValueError(f"peepholes={self.peepholes!r} is not valid; accepted: True, False")
        if self.coupled and not self.input_gate:
            raise ValueError(f"variant {self.name!r}: a coupled forget gate needs an input gate")
        # check the names; `act` and `gate` look them up per call, as the kernels read them
        get_activation("activation", self.activation)
        get_activation("recurrent_activation", self.recurrent_activation, RECURRENT_ACTIVATIONS)
        has_f = self.forget_gate and not self.coupled
        self.sigmoid_gates = tuple(
            g for g, on in (("i", self.input_gate), ("f", has_f), ("o", self.output_gate)) if on
        )
        self.blocks = tuple(
            b for b, on in (("i", self.input_gate), ("f", has_f), ("g", True),
                            ("o", self.output_gate)) if on
        )
        present = {"i": self.input_gate, "f": self.forget_gate, "o": self.output_gate}
        self.gates = tuple(g for g, on in present.items() if on)
        self.candidates = ("g",)
        self.keep_gate = "f"
        self.constant_gates = {g: 1.0 for g, on in present.items() if not on}

    def extra_parameters(self) -> dict[str, tuple[int, ...]]:
        extra: dict[str, tuple[int, ...]] = {}
        n = len(self.sigmoid_gates)
        if self.peepholes:
            extra["weight_peephole"] = (n, self.hidden_size)
        if self.full_gate_recurrence:
            extra["weight_gate_hh"] = (n * self.hidden_size, n * self.hidden_size)
        return extra

    def prepare_weights(self, weights: StepWeights) -> StepWeights:
        """Once per sequence: split peephole rows (``peephole_i``...), transpose weight_gate_hh."""
        extra = dict(weights.extra)
        if self.peepholes:
            rows = extra["weight_peephole"].unbind(0)
            named = zip(self.sigmoid_gates, rows, strict=True)
            extra.update({"peephole_" + g: p for g, p in named})
        if self.full_gate_recurrence:
            extra["weight_gate_hh_t"] = extra["weight_gate_hh"].t()
        return weights._replace(extra=extra)

    def forget_bias_blocks(self, chrono: bool = False) -> dict[str, float]:
        """Blocks that set the forget timescale, with sign: f (+1); cifg: i (-1, as f = 1 - i).

        Chrono init (Tallec & Ollivier 2018) also sets b_i = -b_f when both gates exist.
        """
        if "f" in self.blocks:
            return {"f": 1.0, "i": -1.0} if chrono and "i" in self.blocks else {"f": 1.0}
        if self.coupled:
            return {"i": -1.0}
        return {}

    def initial_carry(self, state: Carry) -> Carry:
        if not self.full_gate_recurrence:
            return state
        h = state[0]
        previous_gates = h.new_zeros(h.shape[0], len(self.sigmoid_gates) * self.hidden_size)
        return (*state, previous_gates)

    def act(self, x: Tensor) -> Tensor:
        """The activation of g and of c (``activation``)."""
        return ACTIVATIONS[self.activation](x)

    def gate(self, x: Tensor) -> Tensor:
        """The activation of the gates i, f, o (``recurrent_activation``)."""
        return ACTIVATIONS[self.recurrent_activation](x)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        """Pre-activations per block (fgr: plus the previous gates' recurrence), then the
        equations."""
        blocks = dict(zip(self.blocks, (xp_t + hp_t).chunk(len(self.blocks), 1), strict=True))
        if self.full_gate_recurrence:
            gate_rec = torch.mm(carry[2], extra["weight_gate_hh_t"])
            rec_chunks = gate_rec.chunk(len(self.sigmoid_gates), 1)
            for gate, rec in zip(self.sigmoid_gates, rec_chunks, strict=True):
                blocks[gate] = blocks[gate] + rec
        return self.equations(blocks, carry[1], extra)

    def equations(self, pre: dict[str, Tensor], c_prev: Tensor, extra: dict[str, Tensor]) -> Carry:
        """Greff et al.'s equations on pre-activations ``pre`` (block name -> tensor).

        ``extra`` must come from `prepare_weights` (peephole rows split out).
        """
        peep = {g: extra["peephole_" + g] for g in self.sigmoid_gates} if self.peepholes else {}
        i = f = o = None
        if self.input_gate:
            i = self.gate(torch.addcmul(pre["i"], peep["i"], c_prev) if peep else pre["i"])
        if self.coupled:
            f = 1.0 - i
        elif self.forget_gate:
            f = self.gate(torch.addcmul(pre["f"], peep["f"], c_prev) if peep else pre["f"])
        g = self.act(pre["g"]) if self.input_activation else pre["g"]
        kept = c_prev if f is None else f * c_prev
        c = kept + g if i is None else torch.addcmul(kept, i, g)
        if self.output_gate:
            o = self.gate(torch.addcmul(pre["o"], peep["o"], c) if peep else pre["o"])
        y = self.act(c) if self.output_activation else c
        h = y if o is None else o * y
        if self._gate_recorder is not None:
            named = {"i": i, "f": f, "g": g, "o": o}
            self.record_gates(**{k: v for k, v in named.items() if v is not None})
        if self.full_gate_recurrence:
            gates = {"i": i, "f": f, "o": o}
            return (h, c, torch.cat([gates[name] for name in self.sigmoid_gates], 1))
        return (h, c)

    # ---- fast paths: read the options and Greff's flags, so every preset shares them ----------
    def bptt_kernel(self):
        from variants.backends.bptt.lstm import LSTMKernel, LSTMSpec

        gates = tuple(self.sigmoid_gates)
        return LSTMKernel(LSTMSpec(
            blocks=tuple(self.blocks),
            coupled=bool(self.coupled),
            peephole_gates=gates if self.peepholes else (),
            full_gate_recurrence=gates if self.full_gate_recurrence else (),
            input_activation=self.activation if self.input_activation else None,
            output_activation=self.activation if self.output_activation else None,
            recurrent_activation=self.recurrent_activation,
        ))

    def bptt_weights(self, weights) -> tuple[Tensor, ...]:
        tensors = [weights.weight_hh]
        if self.peepholes:
            tensors.append(weights.extra["weight_peephole"])
        if self.full_gate_recurrence:
            tensors.append(weights.extra["weight_gate_hh"])
        return tuple(tensors)

    def triton_pointwise(self):
        from variants.backends import kernel_table
        from variants.backends.triton import cells
        from variants.backends.triton.spec import TritonCellSpec

        flags = kernel_table.lstm_flags(
            has_i=self.input_gate, has_f="f" in self.blocks, has_o=self.output_gate,
            coupled=self.coupled, peepholes=self.peepholes,
            input_activation=self.input_activation, output_activation=self.output_activation,
            activation=self.activation, recurrent_activation=self.recurrent_activation)
        peephole = "weight_peephole" if self.peepholes else None
        if self.full_gate_recurrence:
            if self.blocks != ("i", "f", "g", "o"):
                raise ValueError(f"backend='triton' runs gate recurrence only with blocks "
                                 f"i, f, g, o; {self.name!r} has {self.blocks}")
            return TritonCellSpec(cells.lstm_fwd, cells.lstm_gate_rec_bwd, flags, 4, True, 4,
                                  False, peephole, "weight_gate_hh")
        return TritonCellSpec(cells.lstm_fwd, cells.lstm_bwd, flags, len(self.blocks), True, 4,
                              False, peephole)

    def torch_fused(self) -> str | None:
        stock = (self.blocks == ("i", "f", "g", "o") and not self.coupled and not self.peepholes
                 and self.input_activation and self.output_activation
                 and not self.full_gate_recurrence and self.activation == "tanh"
                 and self.recurrent_activation == "sigmoid")
        return "lstm" if stock else None

    def torch_family(self) -> type[nn.Module]:
        return nn.LSTM


class PeepholeCell(LSTMCell):
    """Greff's V: LSTM with peepholes (Gers & Schmidhuber 2000); zero peepholes give `lstm`."""

    name = "peephole"
    paper = "Gers & Schmidhuber 2000; Greff et al. 2017 (V)"
    paper_equations = "lstm with peepholes: p_i * c_prev, p_f * c_prev in i, f; p_o * c in o"
    options = {**LSTMCell.options, "peepholes": True}


class CIFGCell(PeepholeCell):
    """Coupled input-forget gate, f = 1 - i (Greff et al. 2017, CIFG)."""

    name = "cifg"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (CIFG)"
    paper_equations = "peephole with f = 1 - i"
    coupled = True


class NIGCell(PeepholeCell):
    """No input gate, i = 1 (Greff et al. 2017, NIG)."""

    name = "nig"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (NIG)"
    paper_equations = "peephole with i = 1"
    input_gate = False


class NFGCell(PeepholeCell):
    """No forget gate, f = 1 (Greff et al. 2017, NFG)."""

    name = "nfg"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (NFG)"
    paper_equations = "peephole with f = 1"
    forget_gate = False


class NOGCell(PeepholeCell):
    """No output gate, o = 1 (Greff et al. 2017, NOG)."""

    name = "nog"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (NOG)"
    paper_equations = "peephole with o = 1"
    output_gate = False


class NIAFCell(PeepholeCell):
    """No input activation, g = identity (Greff et al. 2017, NIAF)."""

    name = "niaf"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (NIAF)"
    paper_equations = "peephole with g = W_g x + R_g h + b_g (no tanh)"
    input_activation = False


class NOAFCell(PeepholeCell):
    """No output activation, h = o * c (Greff et al. 2017, NOAF)."""

    name = "noaf"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (NOAF)"
    paper_equations = "peephole with h = o * c (no tanh)"
    output_activation = False


class FGRCell(PeepholeCell):
    """Full gate recurrence: i, f, o also see the previous step's [i, f, o] (Greff FGR)."""

    name = "fgr"
    paper = "Greff et al. 2017, LSTM: A Search Space Odyssey (FGR)"
    paper_equations = "peephole with i, f, o += Q [i, f, o]_prev"
    full_gate_recurrence = True
