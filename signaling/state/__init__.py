"""Where signaling keeps its state: the StateStore (memory + journal, Redis) and photo files."""
