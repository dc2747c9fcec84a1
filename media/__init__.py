"""Small shared media tools: encoded-frame types, synthetic sources, frame stamps.

Nothing here does network I/O; the SFU, the recorder and the tests all build on it.
"""
