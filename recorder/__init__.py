"""Recorder: taps the SFU's encoded frames into per-track files, composes QA playback files,
keeps the recordings index and applies retention. Imports ``media`` only, never ``sfu`` or
``signaling``: the server hands it frames through :class:`media.encoded.EncodedSink`.
The API the server wires in is :class:`recorder.recorder.Recorder`; see its module.
"""

from recorder.compose import ComposeOptions, compose_call
from recorder.index import RecordingIndex
from recorder.jobs import ComposeJob
from recorder.paths import UnsafePath, check_id, resolve_inside
from recorder.record import CompositeRecord, Pause, RecordingState, TrackRecord
from recorder.recorder import Recorder
from recorder.recording import Recording
from recorder.repair import probe, recover, remux
from recorder.retention import RetentionTask, erase, purge_expired
from recorder.sink import TrackRecording
from recorder.timeline import CallTimeline, Segment, timeline_for_call

__all__ = [
    "CallTimeline", "ComposeJob", "ComposeOptions", "CompositeRecord", "Pause", "Recorder",
    "Recording", "RecordingIndex", "RecordingState", "RetentionTask", "Segment", "TrackRecord",
    "TrackRecording", "UnsafePath", "check_id", "compose_call", "erase", "probe", "purge_expired",
    "recover", "remux", "resolve_inside", "timeline_for_call",
]
