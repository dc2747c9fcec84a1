"""Silkline tests: browser."""
