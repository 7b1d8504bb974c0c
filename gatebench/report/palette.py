"""One fixed colour per variant name, the same in every report whatever other variants it has.

Built-in cells and presets have fixed colours (Okabe-Ito, tab20 and a few darker hues). Any
other name (a user's cell) gets a colour picked by a hash of the name (md5, not Python's salted
`hash`) from a grid of candidates that lie far from every built-in colour (CIELAB distance of at
least `MIN_DISTANCE`), so a user's cell keeps its colour across reports and machines and never
looks like the GRU's orange or the LSTM's blue.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Iterable
from functools import cache

FIXED = {
    "rnn": "#7f7f7f",  # grey: the ungated reference point
    "lstm": "#0072b2",
    "peephole": "#009e73",
    "cifg": "#e69f00",
    "gru": "#d55e00",
    "gru_cho": "#cc79a7",
    "lstm_fb1": "#56b4e9",
    "lstm_keras": "#1f3a93",
    "nig": "#8c564b",
    "nfg": "#bcbd22",
    "nog": "#17becf",
    "niaf": "#9467bd",
    "noaf": "#e377c2",
    "fgr": "#2ca02c",
    # presets of the reference study
    "lstm_chrono": "#003f5c",
    "irnn": "#4d4d4d",
    "rnn_orth": "#b3b3b3",
    "rnn_pm": "#a6a6a6",
    # the 2016-2024 cells
    "mingru": "#ff9da7",
    "minlstm": "#9c755f",
    "slstm": "#4b0082",
    "janet": "#6b8e23",
    "urlstm": "#8b0000",
    "indrnn": "#2f4f4f",
    "mgu": "#b8860b",
    "gru1": "#f28e2b",
    "gru2": "#ffbe7d",
    "gru3": "#86bcb6",
}
MIN_DISTANCE = 25.0  # CIELAB Delta E (1976) to the nearest built-in colour, for a user's colour


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgb))


def _lab(color: str) -> tuple[float, float, float]:
    """sRGB `#rrggbb` -> CIELAB (D65), the standard formulas."""
    rgb = [int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124564 * lin[0] + 0.3575761 * lin[1] + 0.1804375 * lin[2]) / 0.95047
    y = 0.2126729 * lin[0] + 0.7151522 * lin[1] + 0.0721750 * lin[2]
    z = (0.0193339 * lin[0] + 0.1191920 * lin[1] + 0.9503041 * lin[2]) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def distance(a: str, b: str) -> float:
    """CIELAB Delta E (1976) between two `#rrggbb` colours."""
    return sum((p - q) ** 2 for p, q in zip(_lab(a), _lab(b), strict=True)) ** 0.5


@cache
def user_candidates() -> tuple[str, ...]:
    """The colours a user's cell may get: a hue x lightness x saturation grid, kept where the
    nearest built-in colour is at least `MIN_DISTANCE` away; a fixed order."""
    kept = []
    for h in range(36):
        for lightness in (0.3, 0.42, 0.54, 0.66):
            for saturation in (0.55, 0.85):
                color = _hex(colorsys.hls_to_rgb(h / 36, lightness, saturation))
                if min(distance(color, c) for c in FIXED.values()) >= MIN_DISTANCE:
                    kept.append(color)
    return tuple(kept)


def color_of(name: str) -> str:
    """The colour of a variant name as `#rrggbb`: fixed for built-ins, else a candidate of
    `user_candidates` picked by the md5 of the name."""
    if name in FIXED:
        return FIXED[name]
    candidates = user_candidates()
    digest = hashlib.md5(str(name).encode("utf-8")).digest()
    return candidates[int.from_bytes(digest[:4], "big") % len(candidates)]


def variant_colors(names: Iterable[str]) -> dict[str, str]:
    """`{name: colour}` for every name given (each independent of the others)."""
    return {str(name): color_of(str(name)) for name in names}
