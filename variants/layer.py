"""RecurrentLayer: a torch.nn.LSTM-like multi-layer, bidirectional layer around any registered Cell.

Parameters are named as torch names them (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, suffix ``_reverse`` for the backward direction), plus the cell's extra
parameters (e.g. ``weight_peephole_l0``). For rnn/lstm/gru a torch module's state_dict loads.

Semantics beyond torch:
- ``recurrent_dropout=p`` (Gal & Ghahramani 2016): in training, each layer and direction draws
  ONE mask of shape (B, H) per sequence (per forward call), Bernoulli(1 - p) / (1 - p), and
  multiplies h_prev by it before the recurrent matmul at every step. The carried state itself is
  not dropped. No mask in eval mode.
- ``go_backwards=True`` (Keras semantics): the layer reads the sequence from the last step to the
  first and returns the outputs in that processing order, i.e. ``output[t]`` is the output after
  reading ``x[T-1-t]``; exactly ``layer(x.flip(time_dim))`` of the same layer without the flag.
- ``generator``: used for initialisation and for dropout masks (inter-layer and recurrent); when
  None, torch's default generator is used, as torch.nn modules do.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from variants.backends import get_backend
from variants.cell import Cell, cell_class
from variants.engine import LayerWeights
from variants.init import init_biases, init_weight, set_forget_bias
from variants.options import check_sizes, split_options

State = Tensor | tuple[Tensor, Tensor]


class RecurrentLayer(nn.Module):
    """A stack of recurrent layers of one registered cell; forward(x, state) -> (output, state)."""

    def __init__(self, variant: str, input_size: int, hidden_size: int, **options: Any) -> None:
        super().__init__()
        cls = cell_class(variant)
        self.input_size, self.hidden_size = check_sizes(input_size, hidden_size)
        layer_options, cell_options = split_options(cls, options)
        self.options = layer_options
        self.cell_options = cell_options
        self.cell: Cell = cls(self.hidden_size, **cell_options)
        self.variant = variant
        self.num_layers = layer_options.num_layers
        self.bias = layer_options.bias
        self.batch_first = layer_options.batch_first
        self.dropout = layer_options.dropout
        self.bidirectional = layer_options.bidirectional
        self.recurrent_dropout = layer_options.recurrent_dropout
        self.go_backwards = layer_options.go_backwards
        self.backend = layer_options.backend
        # the engine(s) the last forward ran ("bptt", or "triton+reference" if layers differed):
        # what `auto` resolved to; `planned_backend()` says it before any forward
        self.resolved_backend: str | None = None
        self.generator = layer_options.generator
        self.num_directions = 2 if self.bidirectional else 1
        self._build_parameters(layer_options.device, layer_options.dtype)
        self.reset_parameters()

    # ---- parameters --------------------------------------------------------------------------
    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _build_parameters(self, device: Any, dtype: torch.dtype | None) -> None:
        factory = {"device": device, "dtype": dtype}
        gh = self.cell.num_blocks * self.hidden_size
        for layer in range(self.num_layers):
            fan_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                shapes = {"weight_ih": (gh, fan_in), "weight_hh": (gh, self.hidden_size)}
                if self.bias:
                    shapes.update({"bias_ih": (gh,), "bias_hh": (gh,)})
                if not self.cell.recurrent_matrix:  # e.g. minGRU: W_ih and one bias only
                    shapes.pop("weight_hh")
                    shapes.pop("bias_hh", None)
                shapes.update(self.cell.extra_parameters())
                for name, shape in shapes.items():
                    self.register_parameter(name + sfx, nn.Parameter(torch.empty(shape, **factory)))

    def reset_parameters(self) -> None:
        """(Re)initialise every parameter with the configured initializers and generator."""
        o, cell, hidden = self.options, self.cell, self.hidden_size
        signs = cell.forget_bias_blocks(chrono=o.bias_initializer == "chrono")
        wanted = o.bias_initializer == "chrono" or o.forget_bias is not None
        if wanted and not signs:
            what = "bias_initializer='chrono'" if o.forget_bias is None else "forget_bias"
            raise ValueError(f"{what} needs a forget gate; variant {self.variant!r} has none")
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                w = self.layer_weights(layer, direction)
                init_weight(w.weight_ih.data, o.kernel_initializer, hidden, self.generator)
                if w.weight_hh is not None:
                    init_weight(w.weight_hh.data, o.recurrent_initializer, hidden, self.generator)
                if self.bias:
                    # no recurrent bias (`Cell.recurrent_matrix` False): a scratch one, discarded
                    b_hh = w.bias_hh.data if w.bias_hh is not None else torch.empty_like(w.bias_ih)
                    init_biases(w.bias_ih.data, b_hh, o.bias_initializer,
                                cell.blocks, hidden, self.generator, signs, o.chrono_t_max)
                    if o.forget_bias is not None:
                        set_forget_bias(w.bias_ih.data, b_hh, cell.blocks, hidden,
                                        signs, o.forget_bias)
                with torch.no_grad():
                    for name, tensor in w.extra.items():
                        cell.init_extra(name, tensor, self.generator)
                    cell.init_parameters(w, o, self.generator, layer, self.num_layers)

    def layer_weights(self, layer: int, direction: int) -> LayerWeights:
        """The parameters of one layer and direction."""
        sfx = self._suffix(layer, direction)
        get = self._parameters.get
        extra = {name: get(name + sfx) for name in self.cell.extra_parameters()}
        return LayerWeights(get("weight_ih" + sfx), get("weight_hh" + sfx),
                            get("bias_ih" + sfx), get("bias_hh" + sfx), extra)

    def flatten_parameters(self) -> None:
        """No-op, for drop-in compatibility with code written for torch.nn.LSTM."""

    # ---- forward -----------------------------------------------------------------------------
    def recurrent_dropout_masks(self, batch_size: int, dtype: torch.dtype,
                                device: torch.device) -> list[Tensor] | None:
        """One (B, H) mask per layer and direction, drawn in that order; None when inactive."""
        p = self.recurrent_dropout
        if not (self.training and p > 0):
            return None
        return [self._bernoulli((batch_size, self.hidden_size), p, dtype, device)
                for _ in range(self.num_layers * self.num_directions)]

    def _bernoulli(self, shape: tuple[int, ...], p: float, dtype: torch.dtype,
                   device: torch.device) -> Tensor:
        draw_on = device if self.generator is None else self.generator.device
        mask = torch.empty(shape, dtype=dtype, device=draw_on)
        mask.bernoulli_(1.0 - p, generator=self.generator)
        return mask.div_(1.0 - p).to(device)

    def _layer_dropout(self, x: Tensor) -> Tensor:
        p = self.dropout
        if p == 0 or not self.training:
            return x
        if self.generator is None:
            return nn.functional.dropout(x, p, training=True)
        if p == 1:
            return x * 0.0
        return x * self._bernoulli(tuple(x.shape), p, x.dtype, x.device)

    def _check_input(self, x: Tensor) -> Tensor:
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        unbatched = "(T, input_size)"
        if not isinstance(x, Tensor) or x.dim() not in (2, 3):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{self.variant}: expected input of shape {layout} or {unbatched} "
                             f"with input_size={self.input_size}, got {got}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self.variant}: expected input of shape {layout} or {unbatched} "
                             f"with input_size={self.input_size}, got {tuple(x.shape)}")
        time_dim = 1 if (self.batch_first and x.dim() == 3) else 0
        if x.shape[time_dim] == 0:
            raise ValueError(f"{self.variant}: expected at least one time step, "
                             f"got {tuple(x.shape)}")
        return x

    def _initial_states(self, state: State | None, x: Tensor, unbatched: bool) -> list[tuple]:
        n_state = len(self.cell.state_names)
        rows = self.num_layers * self.num_directions
        batch = x.shape[1]
        if state is None:
            zeros = x.new_zeros(batch, self.hidden_size)
            return [(zeros,) * n_state for _ in range(rows)]
        parts = (state,) if n_state == 1 and isinstance(state, Tensor) else state
        names = self.cell.state_names
        if not isinstance(parts, (tuple, list)) or len(parts) != n_state \
                or not all(isinstance(p, Tensor) for p in parts):
            kind = "a tensor h" if n_state == 1 else "a tuple (" + ", ".join(names) + ")"
            raise ValueError(f"{self.variant}: state must be {kind}, got {type(state).__name__}")
        expected = (rows, self.hidden_size) if unbatched else (rows, batch, self.hidden_size)
        per_part = []
        for name, part in zip(names, parts, strict=True):
            if tuple(part.shape) != expected:
                raise ValueError(f"{self.variant}: state {name} must have shape {expected} "
                                 f"(num_layers*num_directions, batch, hidden_size), "
                                 f"got {tuple(part.shape)}")
            per_part.append((part.unsqueeze(1) if unbatched else part).unbind(0))
        return list(zip(*per_part, strict=True))

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Run the layer: x (T, B, I) [or (B, T, I) batch_first, or (T, I)] -> (output, state)."""
        self._check_input(x)
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if self.go_backwards:
            x = x.flip(0)
        states = self._initial_states(state, x, unbatched)
        masks = self.recurrent_dropout_masks(x.shape[1], x.dtype, x.device)
        finals, engines = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                weights = self.layer_weights(layer, direction)
                mask = None if masks is None else masks[row]
                engines.append(self._engine(layer_input, weights, mask))
                out, final = get_backend(engines[-1])(self.cell, layer_input, states[row],
                                                      weights, direction == 1, mask)
                outputs.append(out)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 2)
            if layer < self.num_layers - 1:
                layer_input = self._layer_dropout(layer_input)
        output = layer_input
        self.resolved_backend = "+".join(dict.fromkeys(engines))
        final_state = tuple(torch.stack([f[k] for f in finals]) for k in range(len(finals[0])))
        if unbatched:
            output = output.squeeze(1)
            final_state = tuple(s.squeeze(1) for s in final_state)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, final_state[0] if len(final_state) == 1 else final_state

    def _engine(self, x: Tensor, weights: LayerWeights, mask: Tensor | None) -> str:
        """The backend that runs one layer and direction: `backend`, or what `auto` picks."""
        if self.backend != "auto":
            return self.backend
        from variants.backends.auto import resolve_auto

        return resolve_auto(self.cell, x, weights, mask)

    def planned_backend(self) -> str:
        """The backend(s) `forward` will run in the current mode (train/eval) on the parameters'
        device and dtype, as `resolved_backend` will name them; runs nothing, draws no RNG."""
        weight = self.layer_weights(0, 0).weight_ih
        dropout = self.training and self.recurrent_dropout > 0
        engines = []
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            x = weight.new_zeros(1, 1, width)
            mask = weight.new_ones(1, self.hidden_size) if dropout else None
            for direction in range(self.num_directions):
                engines.append(self._engine(x, self.layer_weights(layer, direction), mask))
        return "+".join(dict.fromkeys(engines))

    def extra_repr(self) -> str:
        text = f"{self.variant!r}, {self.input_size}, {self.hidden_size}"
        for key in ("num_layers", "bias", "batch_first", "dropout", "bidirectional",
                    "recurrent_dropout", "go_backwards", "backend"):
            value = getattr(self, key)
            default = type(self.options).__dataclass_fields__[key].default
            if value != default:
                text += f", {key}={value}"
        for key, value in self.cell_options.items():
            text += f", {key}={value!r}"
        return text
