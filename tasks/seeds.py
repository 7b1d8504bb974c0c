"""Seed streams for training, validation and test data, disjoint by construction.

torch's CPU generator keeps only the low 32 bits of a seed (`manual_seed(s)` and
`manual_seed(s + 2**32)` give the same numbers), so every stream lives in its own quarter of
the 32-bit seed space: the top two bits name the stream (train batches, fixed train set and its
shuffles, validation, test), the low 30 bits come from `numpy.random.SeedSequence(seed,
spawn_key=(stream,))`. A training seed can therefore never equal a validation or test seed,
whatever the seeds and batch numbers. Within a stream, index i uses the stream's start plus i
(mod 2**30), so the first 2**30 training batches of a run all have different seeds.
"""

from __future__ import annotations

import numpy as np
import torch

STREAMS = {"train": 0, "train_set": 1, "val": 2, "test": 3}
_LOW_BITS = 30


def stream_seed(seed: int, stream: str, index: int = 0) -> int:
    """The 32-bit torch seed for item `index` of `stream` under the run's `seed`."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    tag = STREAMS[stream]
    start = int(np.random.SeedSequence(int(seed), spawn_key=(tag,)).generate_state(1)[0])
    low = (start + int(index)) % (1 << _LOW_BITS)
    return (tag << _LOW_BITS) | low


def stream_generator(seed: int, stream: str, index: int = 0) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `stream_seed(seed, stream, index)`."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, index))
