"""A user cell for gatebench, shipped as its own package (see gatebench's README, Adding a cell)."""
