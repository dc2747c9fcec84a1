"""The QA face: search calls with recordings, replay them through signed media URLs,
score them, and erase everything about a customer on request."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from media.clock import Clock, SystemClock
from signaling.api.bodies import SCORE_CRITERIA, Scorecard, read_body
from signaling.api.media_urls import MediaSigner
from signaling.api.rest import authorize, json_error
from signaling.auth import Claims, Role, TokenService
from signaling.centre.figures import call_facts, first_event_at
from signaling.centre.recording import RecordingService
from signaling.errors import ErrorCode
from signaling.state.photos import PhotoStore
from signaling.state.store import StateStore

logger = logging.getLogger(__name__)

QA_ROLES = {Role.QA, Role.SUPERVISOR, Role.ADMIN}


class QaApi:
    def __init__(self, store: StateStore, tokens: TokenService, recording: RecordingService,
                 signer: MediaSigner, photos: PhotoStore, data_dir: Path, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.store = store
        self.tokens = tokens
        self.recording = recording
        self.signer = signer
        self.photos = photos
        self.erasure_log = Path(data_dir) / "erasures.jsonl"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/recordings", self.search),
            web.get("/api/recordings/{call_id}", self.detail),
            web.post("/api/recordings/{call_id}/compose", self.recompose),
            web.post("/api/calls/{call_id}/scorecard", self.score),
            web.get("/api/scorecards", self.scorecards),
            web.delete("/api/customers/{customer_id}", self.erase_customer),
            web.get("/media/{path:.+}", self.media),
        ]

    def _auth(self, request: web.Request, roles: set[Role] = QA_ROLES) -> Claims:
        return authorize(request, self.tokens, roles)

    async def search(self, request: web.Request) -> web.Response:
        """Filters: from, to (unix s), agent, queue, min_duration, max_duration (s),
        min_rating, disposition, has_recording (true/false), limit."""
        self._auth(request)
        q = request.query

        def num(name: str) -> float | None:
            try:
                return float(q[name]) if q.get(name) not in (None, "") else None
            except ValueError:
                raise web.HTTPBadRequest(reason=f"{name} must be a number") from None

        since, until = num("from"), num("to")
        min_d, max_d, min_rating = num("min_duration"), num("max_duration"), num("min_rating")
        has = q.get("has_recording")
        limit = max(1, min(1000, int(num("limit") or 200)))
        # filters first, then the limit: a narrow search must not miss older matches
        records = await self.store.list_calls(limit=100_000, since=since, until=until)
        out = []
        for record in records:
            facts = call_facts(record)
            duration = facts["handle_s"]
            recorded = bool(record.get("recordings"))
            rating = (record.get("rating") or {}).get("score")
            if q.get("agent") and facts["agent_id"] != q["agent"]:
                continue
            if q.get("queue") and facts["queue"] != q["queue"]:
                continue
            if min_d is not None and (duration is None or duration < min_d):
                continue
            if max_d is not None and (duration is None or duration > max_d):
                continue
            if min_rating is not None and (rating is None or rating < min_rating):
                continue
            if q.get("disposition") and record.get("disposition") != q["disposition"]:
                continue
            if has in ("true", "1") and not recorded or has in ("false", "0") and recorded:
                continue
            out.append({
                "call_id": record["call_id"], "created_at": record.get("created_at"),
                "agent_id": facts["agent_id"], "queue": facts["queue"], "outcome": facts["outcome"],
                "duration_s": round(duration, 1) if duration is not None else None,
                "rating": rating, "disposition": record.get("disposition"), "recorded": recorded,
                "composite": (record.get("composite") or {}).get("state"),
                "scored": bool(record.get("scorecard")),
                "title": (record.get("context") or {}).get("title"),
                "agent_name": next((e.get("name") for e in record.get("events", [])
                                    if e.get("type") == "accepted" and e.get("name")), None),
            })
            if len(out) >= limit:
                break
        return web.json_response({"calls": out})

    async def detail(self, request: web.Request) -> web.Response:
        self._auth(request)
        call_id = request.match_info["call_id"]
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        composite = dict(record.get("composite") or {})
        job = self.recording.jobs.get(call_id)
        if job is not None and job.state in ("queued", "running"):
            composite = {"state": "composing", "progress": round(job.progress, 3)}
        if composite.get("state") == "complete":
            for key in ("file", "poster"):
                if composite.get(key):
                    composite[f"{key}_url"] = self.signer.url(composite[key])
            thumbs = composite.get("thumbnails") or []
            if isinstance(thumbs, str):  # one sprite image (with ``thumbnail_times``)
                thumbs = [thumbs]
            composite["thumbnail_urls"] = [self.signer.url(t) for t in thumbs]
        tracks = []
        for r in self.recording.recorder.list(call_id=call_id):
            if r.get("kind") not in ("audio", "video"):
                continue  # the composite has its own entry
            tracks.append({**{k: r.get(k) for k in ("recording_id", "role", "kind", "codec", "state",
                                                    "reason", "started_at", "duration", "pauses")},
                           "url": self.signer.url(r["file"]) if r.get("file") else None})
        photos = [
            {**e, "url": f"/api/calls/{call_id}/photos/{e['photo_id']}"}
            for e in record.get("events", []) if e.get("type") in ("photo", "snapshot")
        ]
        return web.json_response({
            "call": record, "outcome": call_facts(record)["outcome"], "composite": composite,
            "tracks": tracks, "photos": photos, "timeline_origin": composite.get("start_at")
            or first_event_at(record, "connected") or first_event_at(record, "accepted"),
            "criteria": SCORE_CRITERIA,
        })

    async def recompose(self, request: web.Request) -> web.Response:
        self._auth(request, {Role.QA, Role.ADMIN})
        call_id = request.match_info["call_id"]
        record = await self.store.get_call(call_id)
        if record is None or not record.get("recordings"):
            return json_error(ErrorCode.CALL_NOT_FOUND, "no recording for this call")
        try:
            body = await request.json()
        except ValueError:
            body = {}
        layout = body.get("layout") if isinstance(body, dict) else None
        if layout not in (None, "side_by_side", "pip"):
            return json_error(ErrorCode.INVALID_MESSAGE, "layout must be side_by_side or pip")
        start = first_event_at(record, "connected") or first_event_at(record, "accepted")
        job = self.recording.compose(call_id, record, start=start, end=record.get("ended_at"), layout=layout)
        return web.json_response({"call_id": call_id, "job": job.to_dict()}, status=202)

    async def score(self, request: web.Request) -> web.Response:
        claims = self._auth(request, {Role.QA, Role.SUPERVISOR, Role.ADMIN})
        call_id = request.match_info["call_id"]
        body = await read_body(request, Scorecard, '{"scores": {criterion: 0-5}, "comment": …}',
                               not_an_object=ErrorCode.INVALID_MESSAGE)
        scores = body.scores
        if await self.store.get_call(call_id) is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        card = {"scores": scores, "comment": body.comment, "by": claims.sub, "by_name": claims.name,
                "at": self.clock.now(),
                "total": round(sum(scores.values()) / (5 * len(scores)) * 100)}
        await self.store.update_call(call_id, {"scorecard": card})
        await self.store.append_call_event(call_id, {"type": "scored", "at": card["at"], "by": claims.sub,
                                                     "total": card["total"]})
        return web.json_response({"call_id": call_id, "scorecard": card}, status=201)

    async def scorecards(self, request: web.Request) -> web.Response:
        self._auth(request)
        records = await self.store.list_calls(limit=1000)
        return web.json_response({"scorecards": [
            {"call_id": r["call_id"], "agent_id": r.get("agent_id"), **r["scorecard"]}
            for r in records if r.get("scorecard")]})

    async def erase_customer(self, request: web.Request) -> web.Response:
        """Delete everything about one customer: recordings, photos, call records, orders. Logged."""
        claims = self._auth(request, {Role.ADMIN})
        customer = request.match_info["customer_id"]
        records = await self.store.list_calls(limit=100_000)
        mine = [r for r in records if customer in (r.get("customer_id"), r.get("shopper_id"))]
        call_ids = [r["call_id"] for r in mine]
        deleted_files = await self.recording.recorder.erase(call_ids=call_ids,
                                                            reason=f"erasure request for {customer}")
        photos = sum([await asyncio.to_thread(self.photos.delete_call, c) for c in call_ids])
        for call_id in call_ids:
            await self.store.delete_call(call_id)
        orders = await self.store.delete_orders(customer)
        entry = {"at": self.clock.now(), "by": claims.sub, "customer": customer, "calls": call_ids,
                 "recording_files": len(deleted_files), "photos": photos, "orders": orders}
        await asyncio.to_thread(_append_line, self.erasure_log, entry)
        logger.warning("erased customer %s: %d calls, %d recording files, %d photos (by %s)",
                       customer, len(call_ids), len(deleted_files), photos, claims.sub)
        return web.json_response(entry)

    async def media(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if not self.signer.check(path, request.query.get("exp", ""), request.query.get("sig", "")):
            return json_error(ErrorCode.FORBIDDEN, "this media link is not valid or has expired")
        try:
            file = self.recording.recorder.resolve(path)
        except Exception:  # the recorder refuses anything outside its directory
            return json_error(ErrorCode.NOT_FOUND, "no such media")
        if not file.is_file():
            return json_error(ErrorCode.NOT_FOUND, "no such media")
        # FileResponse answers Range requests (seeking in <video>) and sets the type.
        return web.FileResponse(file, headers={"Cache-Control": "private, max-age=300"})


def _append_line(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
        out.flush()
        os.fsync(out.fileno())
