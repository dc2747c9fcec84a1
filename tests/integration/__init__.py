"""Silkline tests: integration."""
