"""The WebSocket face: one SignalingSession per socket; translates messages, the
CallService decides. Bad input gets an error with a stable code; a socket that floods or
sends oversized frames is closed; nothing a client sends can take the server down. Per client
(caps.py, limits.py): a cap on open sockets per address, budgets for joins, call requests and
messages per address and per token, a cap on waiting calls, and a join deadline."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from media.clock import Clock, SystemClock, Timer
from sfu.tasks import TaskSet
from signaling.api.caps import EdgeLimits, Requester, SocketCounts, WaitingCalls
from signaling.api.client_address import ClientAddress, ClientAddresses
from signaling.api.limits import Action, RateLimits, TokenBucket
from signaling.api.protocol import (
    MAX_FRAME_BYTES,
    Accept,
    Annotate,
    CallbackRequest,
    Candidate,
    Chat,
    Decline,
    Hangup,
    Join,
    Leave,
    MediaStateChange,
    Monitor,
    MonitorModeChange,
    Offer,
    PauseRecording,
    Ping,
    RecordingConsent,
    RefreshToken,
    ResumeRecording,
    SetState,
    Snapshot,
    Transfer,
    Unmonitor,
    WrapUp,
    WrapUpDraft,
    WrapUpTyping,
    parse,
)
from signaling.auth import Claims, Role, TokenService
from signaling.centre.call import CallState
from signaling.centre.calls import CallService
from signaling.centre.conversation import Conversation
from signaling.errors import CloseCode, ErrorCode, SignalingError
from signaling.server_messages import Error, Joined, Pong, ServerMessage, TokenRefreshed, encode, error
from signaling.turn import IceServers

logger = logging.getLogger(__name__)

JOIN_DEADLINE = 10.0  # the default of --join-deadline
OUTBOX_SIZE = 256
RATE_PER_SECOND = 20.0
RATE_BURST = 60.0
MAX_VIOLATIONS = 100
# marks on live video have a budget of their own (the sender coalesces pointer moves to <= 20/s)
ANNOTATION_RATE_PER_SECOND = 30.0
ANNOTATION_BURST = 60.0


class SignalingSession:
    """One socket: a bounded outbox drained by its writer task, which it owns (and a close it
    starts itself when the client does not read)."""

    def __init__(self, ws: web.WebSocketResponse, clock: Clock | None = None, ice: IceServers | None = None,
                 rejected: Callable[[str], None] | None = None,
                 client: ClientAddress | None = None) -> None:
        self.session_id = uuid.uuid4().hex[:12]
        self.ws = ws
        self.client = client or ClientAddress("unknown")
        self.ice = ice
        self.rejected = rejected  # counts each error sent, by code (metrics)
        self.claims: Claims | None = None
        self._outbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task | None = None
        self._tasks = TaskSet(f"session {self.session_id}")
        self.bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST, clock or SystemClock())
        self.annotation_bucket = TokenBucket(ANNOTATION_RATE_PER_SECOND, ANNOTATION_BURST, clock or SystemClock())
        self.violations = 0
        self.join_timer: Timer | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, msg: ServerMessage) -> None:
        if self.ice is not None and isinstance(msg, Joined):
            # a TURN credential of this participant's own, minted at join
            msg = msgspec.structs.replace(msg, ice_servers=self.ice.for_participant(msg.participant_id))
        elif self.rejected is not None and isinstance(msg, Error):
            self.rejected(msg.code)
        try:
            self._outbox.put_nowait(msg)
        except asyncio.QueueFull:
            logger.warning("session %s outbox full; closing a client that does not read", self.session_id)
            self.close_soon(CloseCode.POLICY, "not reading")

    async def _write(self) -> None:
        while True:
            msg = await self._outbox.get()
            try:
                if msg is None or self.ws.closed:
                    return
                await self.ws.send_str(encode(msg).decode())  # encoded once, here
            except (ConnectionError, RuntimeError):
                return
            finally:
                self._outbox.task_done()

    async def close(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            await self.flush()
            await self.ws.close(code=code, message=reason.encode()[:120])

    def close_soon(self, code: int, reason: str) -> None:
        """Close from a timer callback: the close runs as a task this session owns."""
        self._tasks.spawn(self.close(code, reason))

    async def flush(self, timeout: float = 2.0) -> None:
        """Let queued messages go out before a close (bounded: a socket that stalls is closed anyway)."""
        if self._writer is None or self._writer.done():
            return
        try:
            await asyncio.wait_for(self._outbox.join(), timeout)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        if self.join_timer is not None:
            self.join_timer.cancel()
        await self._tasks.cancel()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)


def default_edge(clock: Clock) -> EdgeLimits:
    addresses = ClientAddresses()
    return EdgeLimits(addresses, RateLimits({}, clock, addresses), SocketCounts(0), join_deadline=JOIN_DEADLINE)


class SignalingEndpoint:
    def __init__(self, calls: CallService, conversation: Conversation, tokens: TokenService,
                 heartbeat: float = 5.0, ice: IceServers | None = None,
                 rejected: Callable[[str], None] | None = None, edge: EdgeLimits | None = None) -> None:
        self.calls = calls
        self.edge = edge or default_edge(calls.clock)
        self.limits = self.edge.limits
        self.waiting = WaitingCalls(self.edge.waiting_per_ip, self.edge.waiting_per_customer, self._still_waiting)
        self.ice = ice
        self.rejected = rejected
        self.clock = calls.clock
        self.conversation = conversation
        self.tokens = tokens
        self.heartbeat = heartbeat
        self.sessions: set[SignalingSession] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        client = self.edge.addresses.of(request)
        # aiohttp's ceiling sits above the protocol's limit, so that a frame just over it is
        # answered ``message_too_large`` before the close rather than cut off without a word
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        if not self.edge.sockets.admit(client):
            await self._refuse_socket(ws, client)
            return ws
        try:
            await self._run(ws, client)
        finally:
            self.edge.sockets.release(client)
        return ws

    async def _refuse_socket(self, ws: web.WebSocketResponse, client: ClientAddress) -> None:
        """Over the per-address socket cap: say so in words, then close with 4429."""
        cap = self.edge.sockets.cap
        logger.info("refused a socket from %s: %d open already", client.ip, cap)
        if self.rejected is not None:
            self.rejected(ErrorCode.TOO_MANY_CONNECTIONS.value)
        refusal = error(ErrorCode.TOO_MANY_CONNECTIONS,
                        f"your address already has {cap} connections open; close one and try again")
        try:
            await ws.send_str(encode(refusal).decode())
        finally:
            await ws.close(code=CloseCode.TOO_MANY, message=b"too many connections")

    async def _run(self, ws: web.WebSocketResponse, client: ClientAddress) -> None:
        session = SignalingSession(ws, self.clock, self.ice, self.rejected, client)
        session.start()
        session.join_timer = self.clock.call_later(self.edge.join_deadline, self._join_timed_out, session)
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
                    await asyncio.shield(self.calls.spawn(self.calls.reconnect.session_closed(session)))
            finally:
                await session.stop()
                if not ws.closed:
                    await ws.close()

    async def _serve(self, session: SignalingSession) -> None:
        ws = session.ws
        while not ws.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type is WSMsgType.ERROR:
                # aiohttp reports an oversized frame here and closes with 1009.
                logger.info("session %s socket error: %s", session.session_id, ws.exception())
                return
            if msg.type is WSMsgType.BINARY:
                session.send(error(ErrorCode.BAD_JSON, "binary frames are not part of the protocol"))
                continue
            if msg.type is not WSMsgType.TEXT:
                continue
            # parsed first (bounded by the frame size) so that marks draw on their own budget
            parsed: Any
            try:
                parsed = parse(msg.data)
            except SignalingError as exc:
                parsed = exc
            except Exception:  # a bug of ours in the edge: say so, keep the socket
                logger.exception("session %s: parsing a message failed", session.session_id)
                parsed = SignalingError(ErrorCode.INTERNAL_ERROR, "something went wrong on our side")
            if isinstance(parsed, SignalingError) and parsed.code is ErrorCode.MESSAGE_TOO_LARGE:
                session.send(error(parsed.code, parsed.message))
                await session.close(CloseCode.TOO_BIG, "message too large")
                return
            wait = self._over_budget(session, parsed)
            if wait is not None:
                session.violations += 1
                if session.violations == 1 or session.violations % 50 == 0:
                    session.send(error(ErrorCode.RATE_LIMITED, "too many messages; slow down",
                                       retry_after=wait))
                if session.violations > MAX_VIOLATIONS:
                    await session.close(CloseCode.POLICY, "message flood")
                    return
                continue
            await self._handle(session, parsed)

    def _over_budget(self, session: SignalingSession, parsed: Any) -> float | None:
        """None when the message is within every budget; else the seconds to wait. Marks draw on
        their socket's own budget; everything else on the socket's, its address's and its token's."""
        if isinstance(parsed, Annotate):
            bucket = session.annotation_bucket
            return None if bucket.take() else bucket.retry_after()
        if not session.bucket.take():
            return session.bucket.retry_after()
        if not session.client.exempt:
            wait = self.limits.by_ip[Action.MESSAGES].take(session.client.ip)
            if wait is not None:
                return wait
        if session.claims is not None:
            return self.limits.by_token[Action.MESSAGES].take(_token_key(session.claims))
        return None

    async def _handle(self, session: SignalingSession, parsed: Any) -> None:
        if isinstance(parsed, SignalingError):
            session.send(error(parsed.code, parsed.message, parsed.ref))
            return
        ref = parsed.id
        try:
            await self._dispatch(session, parsed)
        except SignalingError as exc:
            session.send(error(exc.code, exc.message, exc.ref if exc.ref is not None else ref, exc.retry_after))
            if exc.code is ErrorCode.UNAUTHORIZED:  # a bad or expired token ends the connection
                await session.close(CloseCode.UNAUTHORIZED, "unauthorized")
        except Exception:
            logger.exception("session %s: message failed", session.session_id)
            session.send(error(ErrorCode.INTERNAL_ERROR, "something went wrong on our side", ref))

    def _refresh_token(self, session: SignalingSession, token: str) -> None:
        """A long shift outlives a token: the socket takes a fresh one for the same person, role
        and call, so nobody is cut off at the join token's expiry."""
        current = session.claims
        assert current is not None
        claims = self.tokens.verify(token)
        if (claims.role, claims.sub, claims.call_id) != (current.role, current.sub, current.call_id):
            raise SignalingError(ErrorCode.FORBIDDEN, "that token is for somebody else; sign in again")
        session.claims = claims
        session.send(TokenRefreshed(expires_at=claims.expires_at))

    async def _dispatch(self, session: SignalingSession, msg: Any) -> None:
        if isinstance(msg, Ping):  # before or after join: it says only that this path is alive
            session.send(Pong(ref=msg.id))
            return
        if isinstance(msg, Join):
            if session.claims is not None:
                raise SignalingError(ErrorCode.ALREADY_JOINED, "this connection has already joined")
            self.limits.check_ip(Action.JOINS, session.client)
            claims = self.tokens.verify(msg.token)
            self.limits.check_token(Action.JOINS, _token_key(claims))
            requester = self._call_request(session, claims)
            session.claims = claims
            if claims.role is not Role.SHOPPER and msg.context:
                msg.context = None
            try:
                # a context signed into the token by the shop's server wins over the page's
                await self.calls.join(session, claims, {**(msg.context or {}), **claims.context}
                                      if claims.context else msg.context)
            except SignalingError as exc:
                if exc.code is ErrorCode.SERVICE_UNAVAILABLE:
                    session.claims = None  # not joined: the client may send join again
                raise
            finally:
                if requester is not None and claims.call_id is not None:
                    self.waiting.settle(claims.call_id)
            return
        if session.claims is None:
            raise SignalingError(ErrorCode.NOT_JOINED, "send join with a token first")
        if isinstance(msg, RefreshToken):
            self._refresh_token(session, msg.token)
            return
        if self.tokens.expired(session.claims.expires_at):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "token_expired: the token has expired")
        if isinstance(msg, Offer):
            self._check_call(session, msg.call_id)
            await self.calls.negotiation.offer(session, msg.call_id, msg.sdp, msg.id)
        elif isinstance(msg, Candidate):
            self._check_call(session, msg.call_id)
            candidate = None
            if msg.candidate is not None:
                candidate = {"candidate": msg.candidate.candidate, "sdpMid": msg.candidate.sdpMid,
                             "sdpMLineIndex": msg.candidate.sdpMLineIndex}
            await self.calls.negotiation.candidate(session, msg.call_id, candidate)
        elif isinstance(msg, Accept):
            await self.calls.actions.accept(session, msg.call_id)
        elif isinstance(msg, Decline):
            await self.calls.actions.decline(session, msg.call_id)
        elif isinstance(msg, Hangup):
            self._check_call(session, msg.call_id)
            await self.calls.ending.hangup(session, msg.call_id)
        elif isinstance(msg, SetState):
            await self.calls.presence.set_state(session, msg.state)
        elif isinstance(msg, Leave):
            await self.calls.ending.leave(session)
            await session.close(CloseCode.LEFT, "left")
        elif isinstance(msg, Chat):
            self._check_call(session, msg.call_id)
            await self.conversation.chat(session, msg.call_id, msg.text)
        elif isinstance(msg, Snapshot):
            await self.conversation.snapshot(session, msg.call_id, msg.target)
        elif isinstance(msg, Transfer):
            await self.calls.actions.transfer(session, msg.call_id, msg.to_agent, msg.to_queue)
        elif isinstance(msg, WrapUp):
            await self.calls.wrap_ups.finish(session, msg.call_id, msg.disposition, msg.notes)
        elif isinstance(msg, MediaStateChange):
            self._check_call(session, msg.call_id)
            await self.calls.media_states.announce(session, msg.call_id, msg.audio, msg.video)
        elif isinstance(msg, WrapUpTyping):
            self.calls.wrap_ups.typing(session, msg.call_id)
        elif isinstance(msg, WrapUpDraft):
            self.calls.wrap_ups.draft(session, msg.call_id, msg.notes, msg.disposition)
        elif isinstance(msg, CallbackRequest):
            self._check_call(session, msg.call_id)
            await self.calls.ending.request_callback(session, msg.call_id, msg.details())
        elif isinstance(msg, Monitor):
            await self.calls.supervision.start(session, msg.call_id)
        elif isinstance(msg, MonitorModeChange):
            await self.calls.supervision.set_mode(session, msg.call_id, msg.mode)
        elif isinstance(msg, Unmonitor):
            await self.calls.supervision.unmonitor(session, msg.call_id)
        elif isinstance(msg, RecordingConsent):
            self._check_call(session, msg.call_id)
            await self.calls.call_recording.consent(session, msg.call_id, msg.granted)
        elif isinstance(msg, (PauseRecording, ResumeRecording)):
            await self.calls.call_recording.pause(session, msg.call_id, isinstance(msg, PauseRecording))
        elif isinstance(msg, Annotate):
            self._check_call(session, msg.call_id)
            await self.calls.annotations.annotate(session, msg.call_id, {
                "target": msg.target, "shape": msg.shape, "color": msg.color, "points": msg.points,
                "text": msg.text, "pinned": msg.pinned, "fade_s": msg.fade_s,
                "annotation_id": msg.annotation_id})

    def _call_request(self, session: SignalingSession, claims: Claims) -> Requester | None:
        """A shopper's join that asks for a new call: within the call budgets and the waiting caps
        (else refused in words), it returns who asked; any other join, None."""
        if claims.role is not Role.SHOPPER or claims.call_id is None or claims.call_id in self.calls.calls:
            return None
        self.limits.check_ip(Action.CALLS, session.client)
        self.limits.check_token(Action.CALLS, "customer:" + claims.customer_id if claims.customer_id
                                else _token_key(claims))
        requester = Requester(session.client, claims.customer_id)
        self.waiting.check(requester)
        self.waiting.reserve(claims.call_id, requester)  # no await between the check and this
        return requester

    def _still_waiting(self, call_id: str) -> bool:
        call = self.calls.calls.get(call_id)
        return call is not None and call.state in (CallState.WAITING, CallState.RINGING)

    def _join_timed_out(self, session: SignalingSession) -> None:
        """No join within the join deadline: say why and close (the session owns the close), even
        when the socket answers every ping."""
        session.join_timer = None
        if session.claims is None and not session.ws.closed:
            session.send(error(ErrorCode.UNAUTHORIZED, "send join with a token first"))
            session.close_soon(CloseCode.UNAUTHORIZED, "join timeout")

    @staticmethod
    def _check_call(session: SignalingSession, call_id: str) -> None:
        claims = session.claims
        assert claims is not None
        if claims.role is Role.SHOPPER and claims.call_id != call_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "your token is for another call")

    async def close_all(self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        for session in list(self.sessions):
            await session.close(code, reason)


def _token_key(claims: Claims) -> str:
    """A token's budget key: its role and subject (a re-minted token shares its budget)."""
    return f"{claims.role.value}:{claims.sub}"
