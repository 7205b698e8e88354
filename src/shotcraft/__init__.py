"""shotcraft: staged, cost-aware video generation from TOML shot files."""

__version__ = "0.1.0"
