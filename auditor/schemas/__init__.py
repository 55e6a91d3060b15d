"""Trimmed upstream schema data (see README.md); build.py regenerates it."""
