"""Silkline load tests: drive N concurrent synthetic 1:1 video calls against a node and report
what the node costs and what the callers feel. ``python -m load_tests --help``; see README.md.

Never imported by the server (tests/test_architecture.py checks that).
"""
