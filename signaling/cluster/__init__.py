"""The cluster: one contact centre across many node processes on one Redis.

One node holds the centre lease and runs the ``CallService``; the others forward sockets and
REST to it and carry media for the rooms the centre places on them (docs/design.md § Scale-out).
"""
