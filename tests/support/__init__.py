"""Silkline tests: support."""
