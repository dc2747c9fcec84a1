"""Fault mode (``--kill-node-at``): which node to kill, and what the calls felt.

Pure functions over what the tool observed, so they are tested without processes: the node to
kill is chosen from a ``GET /api/nodes`` body; a call's time to resume comes from each receiving
side's video timeline (first and last frame, and every silence of at least
``load_tests.peer.TIMELINE_GAP`` between two frames, recorded by the receiving peers).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from load_tests.report import dist

STOP_WINDOW_S = 0.5  # frames still in flight after the kill: the gap the kill caused starts within this
MAX_KILLS = 50


class KillRefused(Exception):
    """The tool will not kill: why, in words."""


@dataclass(frozen=True)
class KillPlan:
    """``--kill-node-at`` (seconds after the first call's start), ``--kills``, ``--kill-every``."""

    first_at: float
    kills: int = 1
    every: float = 0.0

    def __post_init__(self) -> None:
        if self.first_at < 0:
            raise ValueError("--kill-node-at must be ≥ 0 seconds")
        if not 1 <= self.kills <= MAX_KILLS:
            raise ValueError(f"--kills must be between 1 and {MAX_KILLS}")
        if self.kills > 1 and self.every <= 0:
            raise ValueError("--kills above 1 needs --kill-every SECONDS > 0")

    def times(self) -> list[float]:
        return [self.first_at + k * self.every for k in range(self.kills)]


def choose_victim(nodes: list[dict[str, Any]], hostname: str, killed: Collection[int] = ()) -> dict[str, Any]:
    """The alive node carrying the most rooms (ties: the smaller node id), if it runs on this
    machine (``hostname``). A node whose pid is in ``killed`` is dead whatever the registry says
    (its heartbeat has not expired yet). Raises :class:`KillRefused` otherwise."""
    alive = [n for n in nodes if n.get("state") != "dead" and n.get("pid") not in killed]
    if not alive:
        raise KillRefused("no alive node in /api/nodes: nothing to kill")
    if len(alive) < 2:
        raise KillRefused(f"only one alive node ({alive[0].get('node_id')}): its calls would have nowhere "
                          "to go, not killing it")
    victim = min(alive, key=lambda n: (-len(n.get("rooms") or []), str(n.get("node_id"))))
    if victim.get("host") != hostname:
        raise KillRefused(f"node {victim.get('node_id')} carries the most calls but runs on host "
                          f"{victim.get('host')!r}, not on this machine ({hostname!r}): not killing it")
    pid = victim.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        raise KillRefused(f"node {victim.get('node_id')} has no usable pid in /api/nodes ({pid!r})")
    return victim


def resume_after(timeline: dict[str, Any], kill_at: float) -> float | None:
    """Seconds from ``kill_at`` until this side received video again; 0.0 when the kill did not
    interrupt it (no gap began within ``STOP_WINDOW_S`` of the kill); None when no frame arrived
    after the kill at all.

    ``timeline``: ``{first_s, last_s, gaps_s: [[last frame before, first frame after], …]}``."""
    first, last = timeline.get("first_s"), timeline.get("last_s")
    if first is None or last is None or last <= kill_at:
        return None
    if first > kill_at:  # the call came up only after the kill
        return round(first - kill_at, 3)
    for before, after in timeline.get("gaps_s") or []:
        if after > kill_at and before < kill_at + STOP_WINDOW_S:
            return round(after - kill_at, 3)
    return 0.0


ENDED_STATES = {"ended"}  # signaling.centre.call.CallState.ENDED, as the record says it


def call_outcomes(calls: list[dict[str, Any]], kills: list[dict[str, Any]],
                  records: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per call: every kill of the node that carried it, with the time to resume (the later of
    its two sides); whether media came back on both sides after every kill (``resumed``), and
    whether the call survived: it did not end (no failure, no ``call-ended`` before the hang-up,
    its record not ended just before the hang-up, when ``records`` has it) and the same call id
    carried media again after every kill."""
    records = records or {}
    out = []
    for call in calls:
        events = []
        for kill in kills:
            if call.get("call_id") not in (kill.get("rooms") or []):
                continue
            per_side = {role: resume_after(side.get("timeline") or {}, kill["at_s"])
                        for role, side in (call.get("sides") or {}).items()}
            known = [v for v in per_side.values() if v is not None]
            resumed = max(known) if len(known) == len(per_side) == 2 else None
            events.append({"kill": kill["index"], "node_id": kill.get("node_id"), "resume_s": resumed,
                           "sides": per_side})
        sides = call.get("sides") or {}
        expected = sum(s.get(k, {}).get("expected", 0) for s in sides.values() for k in ("video", "audio"))
        lost = sum(s.get(k, {}).get("lost", 0) for s in sides.values() for k in ("video", "audio"))
        resumed = all(e["resume_s"] is not None for e in events)
        record = records.get(str(call.get("call_id")), {})
        out.append({
            "index": call.get("index"), "call_id": call.get("call_id"), "affected": bool(events),
            "survived": bool(call.get("ok")) and resumed and record.get("state") not in ENDED_STATES,
            "resumed": bool(events) and resumed,
            "record": record or None,
            "error": call.get("error"), "kills": events,
            "loss_pct": round(100 * lost / expected, 3) if expected else None,
            "renegotiations": {r: s.get("renegotiations", 0) for r, s in sides.items()},
            "reconnects": {r: s.get("reconnects", 0) for r, s in sides.items()},
        })
    return out


def summary(outcomes: list[dict[str, Any]], kills: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a fault run: survived/affected calls, time to resume p50/p95/max."""
    affected = [c for c in outcomes if c["affected"]]
    resumes = [e["resume_s"] for c in affected for e in c["kills"] if e["resume_s"] is not None]
    events = sum(len(c["kills"]) for c in affected)
    return {
        "kills": len([k for k in kills if k.get("pid")]), "kills_refused": len([k for k in kills if k.get("refused")]),
        "calls": len(outcomes), "calls_affected": len(affected),
        "calls_survived": sum(1 for c in affected if c["survived"]),
        "calls_resumed": sum(1 for c in affected if c["resumed"]),
        "calls_survived_all": sum(1 for c in outcomes if c["survived"]),
        "interruptions": events, "not_resumed": events - len(resumes),
        "resume_s": dist(resumes),
    }
