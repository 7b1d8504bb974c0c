"""A user cell written with step() (docs/cells-step-example.md): the MGU with an inverted gate."""
