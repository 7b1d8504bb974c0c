"""One fixed colour per variant name, the same in every report whatever other variants it has.

Built-in cells and presets have fixed colours (Okabe-Ito and tab20 hues); any other name gets a
colour derived from a hash of the name (md5, not Python's salted `hash`), so a user's cell keeps
its colour across reports and machines too.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Iterable

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
}


def color_of(name: str) -> str:
    """The colour of a variant name as `#rrggbb`: fixed for built-ins, hash-derived otherwise."""
    if name in FIXED:
        return FIXED[name]
    digest = hashlib.md5(str(name).encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536.0
    lightness = 0.35 + 0.2 * digest[2] / 255.0
    saturation = 0.55 + 0.4 * digest[3] / 255.0
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in (red, green, blue)))


def variant_colors(names: Iterable[str]) -> dict[str, str]:
    """`{name: colour}` for every name given (each independent of the others)."""
    return {str(name): color_of(str(name)) for name in names}
