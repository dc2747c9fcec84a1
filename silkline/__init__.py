"""Composition root: configuration, the app factory and the ``silkline`` command."""

__version__ = "0.1.0"
