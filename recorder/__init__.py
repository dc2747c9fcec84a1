"""Recorder: taps the SFU's encoded frames into per-track files (issue: recording & QA replay).

Not built yet. It will receive frames through :class:`media.encoded.EncodedSink`, never by
reaching into the SFU, and must never block the event loop that forwards media.
"""
