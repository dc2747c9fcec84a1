"""Silkline tests: unit."""
