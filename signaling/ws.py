"""The WebSocket face: one SignalingSession per socket; translates messages, the
CallService decides. Bad input gets an error with a stable code; a socket that floods or
sends oversized frames is closed; nothing a client sends can take the server down."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from signaling.auth import AuthError, Claims, Role, TokenService
from signaling.calls import CallError, CallService
from signaling.conversation import Conversation
from signaling.protocol import (
    MAX_MESSAGE_BYTES,
    Accept,
    CallbackRequest,
    Candidate,
    Chat,
    Decline,
    Hangup,
    Join,
    Leave,
    Monitor,
    MonitorModeChange,
    Offer,
    PauseRecording,
    ProtocolError,
    RecordingConsent,
    ResumeRecording,
    SetState,
    Snapshot,
    Transfer,
    Unmonitor,
    WrapUp,
    error,
    parse,
)
from signaling.turn import IceServers

logger = logging.getLogger(__name__)

JOIN_DEADLINE = 10.0
OUTBOX_SIZE = 256
RATE_PER_SECOND = 20.0
RATE_BURST = 60.0
MAX_VIOLATIONS = 100


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SignalingSession:
    def __init__(self, ws: web.WebSocketResponse, ice: IceServers | None = None,
                 rejected: Callable[[str], None] | None = None) -> None:
        self.session_id = uuid.uuid4().hex[:12]
        self.ws = ws
        self.ice = ice
        self.rejected = rejected  # counts each error sent, by code (metrics)
        self.claims: Claims | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task | None = None
        self.bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        self.violations = 0

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, msg: dict[str, Any]) -> None:
        if self.ice is not None and msg.get("type") == "joined":
            # a TURN credential of this participant's own, minted at join
            msg = {**msg, "ice_servers": self.ice.for_participant(str(msg.get("participant_id")))}
        elif self.rejected is not None and msg.get("type") == "error":
            self.rejected(str(msg.get("code")))
        try:
            self._outbox.put_nowait(msg)
        except asyncio.QueueFull:
            logger.warning("session %s outbox full; closing a client that does not read", self.session_id)
            asyncio.get_running_loop().create_task(self.close(1008, "not reading"))

    async def _write(self) -> None:
        while True:
            msg = await self._outbox.get()
            if msg is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(json.dumps(msg, separators=(",", ":")))
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            await self.flush()
            await self.ws.close(code=code, message=reason.encode()[:120])

    async def flush(self, timeout: float = 2.0) -> None:
        """Let queued messages go out before a close."""
        deadline = time.monotonic() + timeout
        while not self._outbox.empty() and time.monotonic() < deadline and not self.ws.closed:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)


class SignalingEndpoint:
    def __init__(self, calls: CallService, conversation: Conversation, tokens: TokenService,
                 heartbeat: float = 5.0, ice: IceServers | None = None,
                 rejected: Callable[[str], None] | None = None) -> None:
        self.calls = calls
        self.ice = ice
        self.rejected = rejected
        self.conversation = conversation
        self.tokens = tokens
        self.heartbeat = heartbeat
        self.sessions: set[SignalingSession] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        session = SignalingSession(ws, self.ice, self.rejected)
        session.start()
        self.sessions.add(session)
        try:
            await self._serve(session)
        finally:
            # aiohttp may cancel this handler once the peer's socket is gone; the cleanup
            # (grace periods, withdrawn rings, call records) must finish regardless, so it
            # runs as a task owned by the CallService.
            self.sessions.discard(session)
            try:
                if session.claims is not None:
                    await asyncio.shield(self.calls.run_owned(self.calls.session_closed(session)))
            finally:
                await session.stop()
                if not ws.closed:
                    await ws.close()
        return ws

    async def _serve(self, session: SignalingSession) -> None:
        ws = session.ws
        joined_deadline = asyncio.get_running_loop().time() + JOIN_DEADLINE
        while not ws.closed:
            timeout = None
            if session.claims is None:
                timeout = max(0.0, joined_deadline - asyncio.get_running_loop().time())
            try:
                msg = await ws.receive(timeout=timeout)
            except asyncio.TimeoutError:
                session.send(error("unauthorized", "send join with a token first"))
                await session.close(4401, "join timeout")
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type is WSMsgType.ERROR:
                # aiohttp reports an oversized frame here and closes with 1009.
                logger.info("session %s socket error: %s", session.session_id, ws.exception())
                return
            if msg.type is WSMsgType.BINARY:
                session.send(error("bad_json", "binary frames are not part of the protocol"))
                continue
            if msg.type is not WSMsgType.TEXT:
                continue
            if not session.bucket.take():
                session.violations += 1
                if session.violations == 1 or session.violations % 50 == 0:
                    session.send(error("rate_limited", "too many messages; slow down"))
                if session.violations > MAX_VIOLATIONS:
                    await session.close(1008, "message flood")
                    return
                continue
            await self._handle_text(session, msg.data)

    async def _handle_text(self, session: SignalingSession, data: str) -> None:
        ref = None
        try:
            parsed = parse(data)
            ref = parsed.id
            await self._dispatch(session, parsed)
        except ProtocolError as exc:
            session.send(error(exc.code, exc.message, exc.ref))
        except CallError as exc:
            session.send(error(exc.code, exc.message, ref))
        except AuthError as exc:
            session.send(error(exc.code, exc.message, ref))
            await session.close(4401, "unauthorized")
        except Exception:
            logger.exception("session %s: message failed", session.session_id)
            session.send(error("internal_error", "something went wrong on our side", ref))

    async def _dispatch(self, session: SignalingSession, msg: Any) -> None:
        if isinstance(msg, Join):
            if session.claims is not None:
                raise CallError("already_joined", "this connection has already joined")
            claims = self.tokens.verify(msg.token)
            session.claims = claims
            if claims.role is not Role.SHOPPER and msg.context:
                msg.context = None
            # a context signed into the token by the shop's server wins over the page's
            await self.calls.join(session, claims, {**(msg.context or {}), **claims.context}
                                  if claims.context else msg.context)
            return
        if session.claims is None:
            raise CallError("not_joined", "send join with a token first")
        if session.claims.expires_at < time.time():
            raise AuthError("unauthorized", "token_expired: the token has expired")
        if isinstance(msg, Offer):
            self._check_call(session, msg.call_id)
            await self.calls.offer(session, msg.call_id, msg.sdp)
        elif isinstance(msg, Candidate):
            self._check_call(session, msg.call_id)
            candidate = None
            if msg.candidate is not None:
                candidate = {"candidate": msg.candidate.candidate, "sdpMid": msg.candidate.sdpMid,
                             "sdpMLineIndex": msg.candidate.sdpMLineIndex}
            await self.calls.candidate(session, msg.call_id, candidate)
        elif isinstance(msg, Accept):
            await self.calls.accept(session, msg.call_id)
        elif isinstance(msg, Decline):
            await self.calls.decline(session, msg.call_id)
        elif isinstance(msg, Hangup):
            self._check_call(session, msg.call_id)
            await self.calls.hangup(session, msg.call_id)
        elif isinstance(msg, SetState):
            await self.calls.set_agent_state(session, msg.state)
        elif isinstance(msg, Leave):
            await self.calls.leave(session)
            await session.close(1000, "left")
        elif isinstance(msg, Chat):
            self._check_call(session, msg.call_id)
            await self.conversation.chat(session, msg.call_id, msg.text)
        elif isinstance(msg, Snapshot):
            await self.conversation.snapshot(session, msg.call_id)
        elif isinstance(msg, Transfer):
            await self.calls.transfer(session, msg.call_id, msg.to_agent, msg.to_queue)
        elif isinstance(msg, WrapUp):
            await self.calls.finish_wrap_up(session, msg.call_id, msg.disposition[:80], msg.notes[:4000])
        elif isinstance(msg, CallbackRequest):
            self._check_call(session, msg.call_id)
            if not msg.name.strip() or not msg.contact.strip():
                raise CallError("invalid_message", "callback: name and phone or e-mail are needed")
            await self.calls.request_callback(session, msg.call_id, {
                "name": msg.name.strip()[:120], "contact": msg.contact.strip()[:200],
                "question": msg.question.strip()[:2000]})
        elif isinstance(msg, Monitor):
            await self.calls.start_monitor(session, msg.call_id)
        elif isinstance(msg, MonitorModeChange):
            await self.calls.set_monitor_mode(session, msg.call_id, msg.mode)
        elif isinstance(msg, Unmonitor):
            await self.calls.unmonitor(session, msg.call_id)
        elif isinstance(msg, RecordingConsent):
            self._check_call(session, msg.call_id)
            await self.calls.recording_consent(session, msg.call_id, msg.granted)
        elif isinstance(msg, (PauseRecording, ResumeRecording)):
            await self.calls.pause_recording(session, msg.call_id, isinstance(msg, PauseRecording))

    @staticmethod
    def _check_call(session: SignalingSession, call_id: str) -> None:
        claims = session.claims
        assert claims is not None
        if claims.role is Role.SHOPPER and claims.call_id != call_id:
            raise CallError("forbidden", "your token is for another call")

    async def close_all(self) -> None:
        for session in list(self.sessions):
            await session.close(1001, "server shutting down")
