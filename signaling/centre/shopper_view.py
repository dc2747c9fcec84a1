"""What a shopper may read of their own call record (``GET /api/calls/{id}`` with their token).

An allow-list, not a deny-list: a field or an event type that a later change adds to the
record stays staff-only until somebody decides here that shoppers see it. Staff-side facts
never pass: the agent's wrap-up notes and disposition, QA scorecards, a supervisor's
monitoring (silent, whisper, barge), who was offered the call, and staff ids of any kind (the
agent is shown by display name, as in ``agent-joined``).
"""

from __future__ import annotations

from typing import Any

RECORD_FIELDS = frozenset({
    "call_id", "created_at", "state", "queue", "context", "audio_only", "ended_at", "end_reason",
    "rating", "recording_consent", "recorded",
})
CALLBACK_FIELDS = frozenset({"name", "contact", "question", "status", "at"})

# event type -> the fields of it a shopper sees (``type`` and ``at`` always)
EVENT_FIELDS: dict[str, frozenset[str]] = {
    "requested": frozenset({"queue"}),
    "queued": frozenset({"queue"}),
    "overflowed": frozenset({"queue"}),
    "held": frozenset({"reason"}),
    "accepted": frozenset({"name"}),
    "connected": frozenset(),
    "transferred": frozenset(),
    "reconnecting": frozenset({"role"}),
    "resumed": frozenset({"role"}),
    "rejoined": frozenset({"role"}),
    "media_state": frozenset({"role", "audio", "video"}),
    "chat": frozenset({"chat_id", "role", "name", "text"}),
    "photo": frozenset({"photo_id", "role", "name", "width", "height"}),
    "annotation": frozenset({"annotation_id", "by", "by_name", "target", "shape", "color", "points",
                             "text", "pinned", "fade_s"}),
    "recording_consent_asked": frozenset(),
    "recording_consent": frozenset({"granted"}),
    "recording_started": frozenset(),
    "recording_paused": frozenset(),
    "recording_resumed": frozenset(),
    "recording_finished": frozenset(),
    "callback_requested": frozenset(),
    "callback_done": frozenset(),
    "rated": frozenset({"score"}),
    "ended": frozenset({"reason", "by", "detail"}),
}


def shopper_view(record: dict[str, Any]) -> dict[str, Any]:
    """The shopper's copy of a call record: allowed fields and events only, and the agent's
    display name as ``agent_name``."""
    view = {key: value for key, value in record.items() if key in RECORD_FIELDS}
    callback = record.get("callback")
    if isinstance(callback, dict):
        view["callback"] = {k: v for k, v in callback.items() if k in CALLBACK_FIELDS}
    events = []
    agent_name = None
    for event in record.get("events") or []:
        kind = event.get("type")
        allowed = EVENT_FIELDS.get(kind) if isinstance(kind, str) else None
        if allowed is None:
            continue
        events.append({k: v for k, v in event.items() if k in allowed or k in ("type", "at")})
        if kind == "accepted" and event.get("name"):
            agent_name = event["name"]  # the latest agent (after a transfer, the new one)
    view["events"] = events
    if agent_name is not None:
        view["agent_name"] = agent_name
    return view
