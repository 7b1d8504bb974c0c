"""gatebench: which recurrent cell remembers what, how far back, and at what cost."""

__version__ = "0.1.0"
