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
from torch import Tensor

from variants.activations import RECURRENT_ACTIVATIONS, get_activation
from variants.cell import Carry, Cell, StepWeights


class LSTMCell(Cell):
    """LSTM with forget gate; flags below select Greff et al.'s variants (see module docstring)."""

    name = "lstm"
    state_names = ("h", "c")
    options = {"activation": "tanh", "recurrent_activation": "sigmoid", "peepholes": False}
    input_gate = True
    forget_gate = True
    output_gate = True
    coupled = False  # CIFG: f = 1 - i
    input_activation = True
    output_activation = True
    full_gate_recurrence = False

    def __init__(self, hidden_size: int, **options: Any) -> None:
        super().__init__(hidden_size, **options)
        if not isinstance(self.peepholes, bool):
            raise ValueError(f"peepholes={self.peepholes!r} is not valid; accepted: True, False")
        if self.coupled and not self.input_gate:
            raise ValueError(f"variant {self.name!r}: a coupled forget gate needs an input gate")
        self.act = get_activation("activation", self.activation)
        self.gate = get_activation("recurrent_activation", self.recurrent_activation,
                                   RECURRENT_ACTIVATIONS)
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

    def step(self, xp_t: Tensor, h_in: Tensor, carry: Carry, weights: StepWeights) -> Carry:
        pre = xp_t + self.recurrent_projection(h_in, carry, weights)
        blocks = dict(zip(self.blocks, pre.chunk(len(self.blocks), 1), strict=True))
        if self.full_gate_recurrence:
            gate_rec = torch.mm(carry[2], weights.extra["weight_gate_hh_t"])
            rec_chunks = gate_rec.chunk(len(self.sigmoid_gates), 1)
            for gate, rec in zip(self.sigmoid_gates, rec_chunks, strict=True):
                blocks[gate] = blocks[gate] + rec
        return self._gates(blocks, carry[1], weights.extra)

    def pointwise(self, xp_t: Tensor, hp_t: Tensor, carry: Carry,
                  extra: dict[str, Tensor]) -> Carry:
        if self.full_gate_recurrence:
            raise NotImplementedError("fgr's recurrence needs its previous gates: use step()")
        blocks = dict(zip(self.blocks, (xp_t + hp_t).chunk(len(self.blocks), 1), strict=True))
        return self._gates(blocks, carry[1], extra)

    def _gates(self, pre: dict[str, Tensor], c_prev: Tensor, extra: dict[str, Tensor]) -> Carry:
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


class PeepholeCell(LSTMCell):
    """Greff's V: LSTM with peepholes (Gers & Schmidhuber 2000); zero peepholes give `lstm`."""

    name = "peephole"
    options = {**LSTMCell.options, "peepholes": True}


class CIFGCell(PeepholeCell):
    """Coupled input-forget gate, f = 1 - i (Greff et al. 2017, CIFG)."""

    name = "cifg"
    coupled = True


class NIGCell(PeepholeCell):
    """No input gate, i = 1 (Greff et al. 2017, NIG)."""

    name = "nig"
    input_gate = False


class NFGCell(PeepholeCell):
    """No forget gate, f = 1 (Greff et al. 2017, NFG)."""

    name = "nfg"
    forget_gate = False


class NOGCell(PeepholeCell):
    """No output gate, o = 1 (Greff et al. 2017, NOG)."""

    name = "nog"
    output_gate = False


class NIAFCell(PeepholeCell):
    """No input activation, g = identity (Greff et al. 2017, NIAF)."""

    name = "niaf"
    input_activation = False


class NOAFCell(PeepholeCell):
    """No output activation, h = o * c (Greff et al. 2017, NOAF)."""

    name = "noaf"
    output_activation = False


class FGRCell(PeepholeCell):
    """Full gate recurrence: i, f, o also see the previous step's [i, f, o] (Greff FGR)."""

    name = "fgr"
    full_gate_recurrence = True
