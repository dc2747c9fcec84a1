"""How calls end: hang-up, leaving, a callback request instead of waiting, node drain.

``end_call`` is the one way a call ends: the record says ``ended`` (state, reason, time, all
written by the call in one step) before anybody is told; then the agent is released (back to
available if it was only ringing, into wrap-up if it talked), the recording is finalised and
the SFU room closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sfu import CloseReason
from signaling.auth import Claims, Role
from signaling.centre.agents import AgentState
from signaling.centre.call import LIVE_MEDIA_STATES, Call, CallState
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import (
    AgentStateChanged,
    CallbackAccepted,
    CallbacksChanged,
    CallEnded,
    CallWithdrawn,
)

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)

END_RETRIES = 3600  # a call that ended while the store was away: tries to record its end, 1 s apart


class Ending:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def hangup(self, session: Session, call_id: str) -> None:
        call = self.service.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role is Role.SUPERVISOR:
            raise SignalingError(ErrorCode.FORBIDDEN, "you are not in this call")
        await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)

    async def leave(self, session: Session) -> None:
        """The client says goodbye: its calls end, an agent signs out."""
        for call in list(self.service.calls.values()):
            party = call.party_of(session)
            if party is not None and party.role is not Role.SUPERVISOR:
                await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)
        await self.service.presence.leave(session)

    async def request_callback(self, session: Session | None, call_id: str, request: dict[str, str],
                               claims: Claims | None = None) -> None:
        """A shopper who cannot (or will not) wait leaves their details for a callback (over
        the socket, or over REST when the socket is gone: the call may already be over)."""
        service = self.service
        claims = claims or (session.claims if session is not None else None)
        if claims is None or claims.role is not Role.SHOPPER or claims.call_id != call_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the shopper of this call can ask for a callback")
        call = service.calls.get(call_id)
        if call is not None and call.state in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "you are already talking to an expert")
        if call is not None:
            if call.callback_requested:
                raise SignalingError(ErrorCode.INVALID_STATE, "a callback was already requested for this call")
            call.callback_requested = True  # at once: an accept racing the awaits below now fails
        try:
            record = await service.store.get_call(call_id)
            if record is None:
                raise SignalingError(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
            if record.get("callback"):
                raise SignalingError(ErrorCode.INVALID_STATE, "a callback was already requested for this call")
            entry = {**request, "at": service.clock.now()}
            if not await service.store.add_callback(call_id, entry):  # atomic: one request wins
                raise SignalingError(ErrorCode.INVALID_STATE, "a callback was already requested for this call")
        except BaseException:
            if call is not None:
                call.callback_requested = False
            raise
        if call is not None:
            await service.record(call, "callback_requested")
            await self.end_call(call, CloseReason.CALLBACK, by="shopper")
        else:
            await service.store.append_call_event(call_id, {"type": "callback_requested", "at": entry["at"]})
        if session is not None:
            session.send(CallbackAccepted(call_id=call_id))
        for agent in service.agents.values():
            if agent.session is not None:
                agent.session.send(CallbacksChanged())
        service.dashboard.changed()

    async def end_call(self, call: Call, reason: CloseReason, by: str | None = None,
                       detail: str | None = None) -> None:
        service = self.service
        if call.state is CallState.ENDED:
            return
        previous = call.state
        call.state = CallState.ENDED
        now = service.clock.now()
        rung = call.stop_ringing()
        service.queues.remove(call.call_id)
        for party in call.audience():
            if party.grace is not None:
                party.grace.cancel()
                party.grace = None
        service.calls.pop(call.call_id, None)
        if call.connected_at:
            service.dispatch.handle_times.append(now - call.connected_at)
        try:
            # On disk before anybody is told: a told "ended" is a recorded "ended".
            event = {"type": "ended", "at": now,
                     **{k: v for k, v in (("reason", reason.value), ("by", by), ("detail", detail)) if v is not None}}
            fields = {"state": CallState.ENDED.value, "end_reason": reason.value, "ended_at": now}
            try:
                await service.store.append_call_event(call.call_id, event, fields=fields)
            except SignalingError as exc:
                if exc.code is not ErrorCode.SERVICE_UNAVAILABLE:
                    raise
                # the store is away: the call is over for its parties all the same (their media
                # is gone), and its end is written as soon as the store is back
                logger.warning("call %s ended while the store is away; recording it later", call.call_id,
                               extra={"call_id": call.call_id})
                service.spawn(self.record_later(call.call_id, event, fields))
        finally:
            service.broadcast(call, CallEnded(call_id=call.call_id, reason=reason.value,
                                            by=by, detail=detail))
            self._release_agent(call, previous, rung, reason)
            logger.info("call %s ended: %s by %s", call.call_id, reason.value, by, extra={"call_id": call.call_id})
            if service.recording is not None:
                try:
                    await service.recording.call_ended(call, call.connected_at, now,
                                                       call.agent.name if call.agent else None)
                except Exception:
                    logger.exception("call %s: finishing the recording failed", call.call_id)
            await service.sfu.close_room(call.call_id, reason)
            service.dashboard.changed()
        await service.dispatch.dispatch()

    async def record_later(self, call_id: str, event: dict, fields: dict | None = None) -> None:
        """Write a call's event (its end, a move) once the store answers again (tried every
        second, for up to an hour; the CallService owns this task, so a node that stops first
        cancels it)."""
        for _ in range(END_RETRIES):
            await self.service.clock.sleep(1.0)
            try:
                await self.service.store.append_call_event(call_id, event, fields=fields)
            except SignalingError as exc:
                if exc.code is not ErrorCode.SERVICE_UNAVAILABLE or getattr(exc, "fenced", False):
                    raise
                continue
            logger.info("call %s: its %s is recorded now the store is back", call_id, event.get("type"),
                        extra={"call_id": call_id})
            return
        logger.error("call %s: its %s could not be recorded within an hour", call_id, event.get("type"),
                     extra={"call_id": call_id})

    def _release_agent(self, call: Call, previous: CallState, rung: str | None, reason: CloseReason) -> None:
        service = self.service
        if previous is CallState.RINGING:
            agent = service.agents.get(rung or "")
            if agent is None:
                return
            service.spawn(service.store.release_agent(agent.agent_id, call.call_id))
            if agent.session is not None:
                agent.session.send(CallWithdrawn(call_id=call.call_id, reason=reason.value))
            agent.set_state(AgentState.AVAILABLE, service.clock.now())
            if agent.session is not None:
                agent.session.send(AgentStateChanged(state=agent.state.value))
            return
        agent = service.agents.get(call.agent.identity) if call.agent is not None else None
        if agent is not None:
            service.wrap_ups.start(agent, call)

    async def end_all(self) -> None:
        for call in list(self.service.calls.values()):
            await self.end_call(call, CloseReason.NODE_DRAIN, by="server")
