"""privsynth: privacy-preserving synthetic text (SMOTExT generator, DP, audit, release gate)."""

__version__ = "0.1.0"
