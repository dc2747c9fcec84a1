"""The conversation of a call as one self-contained HTML file (chat and photos), for the shopper
to keep after the call: photos inlined as ``data:`` URIs, one inline style sheet, no script, and
a Content-Security-Policy of its own so the file stays inert wherever it is opened. Every piece
of text from the call is escaped; nothing is fetched when the file is opened."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A bound on the file: photos beyond it are named, not inlined.
MAX_INLINE_PHOTO_BYTES = 40 * 1024 * 1024
# Only what the shopper saw: chat lines and photos (an agent's snapshot went to the agent only).
SHOWN_EVENTS = ("chat", "photo")

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1c1b1f;
margin:0;background:#f4f6f8}
main{max-width:720px;margin:0 auto;padding:24px 16px 40px}
h1{font-size:20px;margin:0 0 4px}.meta{color:#5b5d63;margin:0 0 20px}
ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:10px}
li{max-width:85%;display:flex;flex-direction:column;gap:2px}li.mine{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;color:#5b5d63}.text{margin:0;padding:8px 12px;border-radius:12px;background:#fff;
border:1px solid #e0e2e6;white-space:pre-wrap;overflow-wrap:anywhere}
li.mine .text{background:#1f5f4a;border-color:#1f5f4a;color:#fff}
img{display:block;max-width:100%;max-height:480px;border-radius:10px;border:1px solid #e0e2e6}
.empty{color:#5b5d63}
"""
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def time_zone(name: str | None) -> tzinfo:
    """The shopper's time zone (the widget sends the browser's IANA name); UTC when unknown."""
    if name and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _when(at: float, zone: tzinfo, fmt: str) -> str:
    return datetime.fromtimestamp(at, zone).strftime(fmt)


def _agent_name(record: dict[str, Any]) -> str | None:
    names = [e.get("name") for e in record.get("events") or [] if e.get("type") == "accepted" and e.get("name")]
    return names[-1] if names else None


def _who(event: dict[str, Any]) -> str:
    role = event.get("role")
    if role == "shopper":
        return "You"
    name = event.get("name") or ("Expert" if role == "agent" else "Supervisor")
    return f"{name} (supervisor)" if role == "supervisor" else str(name)


def conversation_html(record: dict[str, Any], read_photo: Callable[[str], bytes | None],
                      zone: tzinfo = UTC) -> str:
    """The page for ``record``; ``read_photo(photo_id)`` gives a stored JPEG (None if gone)."""
    title = (record.get("context") or {}).get("title")
    agent = _agent_name(record)
    started = record.get("created_at")
    heading = f"Your conversation with {agent}" if agent else "Your conversation with our expert"
    meta = []
    if title:
        meta.append(f"About: {title}")
    if started:
        meta.append(_when(float(started), zone, "%d %B %Y, %H:%M"))
    items: list[str] = []
    budget = MAX_INLINE_PHOTO_BYTES
    for event in record.get("events") or []:
        kind = event.get("type")
        if kind not in SHOWN_EVENTS:
            continue
        mine = ' class="mine"' if event.get("role") == "shopper" else ""
        who = escape(f"{_who(event)} · {_when(float(event.get('at') or 0), zone, '%H:%M')}")
        if kind == "chat":
            body = f'<p class="text">{escape(str(event.get("text") or ""))}</p>'
        else:
            data = read_photo(str(event.get("photo_id") or ""))
            if data is not None and len(data) <= budget:
                budget -= len(data)
                alt = "Your photo" if event.get("role") == "shopper" else f"Photo from {_who(event)}"
                src = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                body = f'<img src="{src}" alt="{escape(alt)}">'
            else:
                body = '<p class="text">(a photo that could not be included)</p>'
        items.append(f'<li{mine}><span class="who">{who}</span>{body}</li>')
    listing = f"<ol>{''.join(items)}</ol>" if items else '<p class="empty">No messages or photos in this call.</p>'
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{STYLE}</style></head>"
        f'<body><main><h1>{escape(heading)}</h1><p class="meta">{escape(" · ".join(meta))}</p>'
        f"{listing}</main></body></html>\n"
    )
