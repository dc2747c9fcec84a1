"""CallService: the call lifecycle core. The WebSocket handler translates messages; this decides.

waiting → ringing → connecting → connected → ended. The service holds the live calls and the
collaborators that own each facet, one module each:

- ``dispatch.py``     queues → router → reservation → ringing; ring timeouts; the queue ticker
- ``presence.py``     agents signing in and out, available/away
- ``agent_actions.py`` accept, decline, transfer
- ``reconnect.py``    a party's socket or media lost: the grace period, coming back
- ``negotiation.py``  SDP offers and ICE candidates into the SFU
- ``ending.py``       hang-up, leaving, callbacks, the end of a call
- ``wrap_up.py``      the agent's timed wrap-up after a call
- ``supervision.py``  monitoring, whisper, barge-in
- ``call_recording.py`` consent and pause (the policy itself: ``recording.py``)
- ``dashboard.py``    the supervisors' live view
- ``annotations.py``  marks drawn on a party's live video
- ``migration.py``    moving a live call's media to a new room (node lost or draining, an operator)

Every step is written to the call record before the clients are told. Every timer and
timestamp comes from the injected ``Clock``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from media.clock import Clock, SystemClock
from sfu import SfuNode
from sfu.tasks import TaskSet
from signaling.auth import Claims, Role
from signaling.centre.agent_actions import AgentActions
from signaling.centre.agents import Agent
from signaling.centre.annotations import Annotations
from signaling.centre.availability import Availability
from signaling.centre.call import Call, CallState, Party, participant_id
from signaling.centre.call_recording import CallRecording
from signaling.centre.dashboard import Dashboard
from signaling.centre.dispatch import Dispatch
from signaling.centre.ending import Ending
from signaling.centre.media_states import MediaStates
from signaling.centre.migration import Migration
from signaling.centre.negotiation import Negotiation
from signaling.centre.presence import Presence
from signaling.centre.queues import Queues
from signaling.centre.reconnect import Reconnect
from signaling.centre.routing import Router, SkillRouter
from signaling.centre.session import Session
from signaling.centre.supervision import Supervision
from signaling.centre.wrap_up import WrapUps
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import CallStateChanged, Joined, ServerMessage
from signaling.state.store import StateStore

logger = logging.getLogger(__name__)


@dataclass
class CallSettings:
    grace_period: float = 15.0
    ring_timeout: float = 30.0
    tick: float = 1.0  # how often queues are re-evaluated (relaxation, overflow, limits)
    default_handle_s: float = 240.0  # for wait estimates until we have history
    wrap_up_s: float = 60.0  # after-call work, unless the queue sets its own
    wrap_up_typing_s: float = 10.0  # the wrap-up countdown stays paused this long after a keystroke


def new_call_id() -> str:
    return "c_" + uuid.uuid4().hex[:16]


class CallService:
    def __init__(
        self,
        sfu: SfuNode,
        store: StateStore,
        settings: CallSettings | None = None,
        queues: Queues | None = None,
        router: Router | None = None,
        ice_servers: list[dict] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.sfu = sfu
        self.store = store
        self.settings = settings or CallSettings()
        self.queues = queues or Queues.from_config()
        self.ice_servers = ice_servers or []
        self.clock: Clock = clock or SystemClock()
        self.calls: dict[str, Call] = {}
        self.closing = False
        self._learned = False
        self.recording: Any = None  # RecordingService, set by the composition root
        self._tasks = TaskSet("call service")
        self.presence = Presence(self)
        self.dispatch = Dispatch(self, router or SkillRouter())
        self.actions = AgentActions(self)
        self.reconnect = Reconnect(self)
        self.negotiation = Negotiation(self)
        self.ending = Ending(self)
        self.wrap_ups = WrapUps(self)
        self.supervision = Supervision(self)
        self.call_recording = CallRecording(self)
        self.dashboard = Dashboard(self)
        self.annotations = Annotations(self)
        self.availability = Availability(self)
        self.media_states = MediaStates(self)
        self.migration = Migration(self)

    @property
    def agents(self) -> dict[str, Agent]:
        return self.presence.agents

    async def start(self) -> None:
        """Learn ratings and returning customers from the records (once per process: in a
        cluster a node may take the centre more than once); start the queue ticker."""
        if not self._learned:
            self.dispatch.learn(await self.store.list_calls(limit=2000))
            self._learned = True
        self.dispatch.start()

    def call_of_agent(self, agent_id: str) -> str | None:
        """The live call ringing for, or served by, an agent: the one home of that fact is the call."""
        return next((c.call_id for c in self.calls.values() if c.holds(agent_id)), None)

    # ------------------------------------------------------------------ joining
    async def join(self, session: Session, claims: Claims, context: dict | None) -> None:
        if claims.role is Role.SHOPPER:
            await self._join_shopper(session, claims, context or {})
        elif claims.role is Role.AGENT:
            await self.presence.sign_in(session, claims)
        else:  # supervisor / qa / admin
            session.send(Joined(role=claims.role.value, participant_id=claims.sub,
                                 ice_servers=self.ice_servers, resumed=False))
            if claims.role in (Role.SUPERVISOR, Role.ADMIN):
                self.dashboard.watch(session)

    async def _join_shopper(self, session: Session, claims: Claims, context: dict) -> None:
        call_id = claims.call_id
        assert call_id is not None
        call = self.calls.get(call_id)
        if call is not None:
            if call.shopper.identity != claims.sub:
                raise SignalingError(ErrorCode.FORBIDDEN, "this call belongs to somebody else")
            await self.reconnect.resume(call, call.shopper, session)
            session.send(self.joined(call, call.shopper, resumed=True))
            if call.state is CallState.WAITING:
                self.dispatch.tell_held(call)
                self.dispatch.send_position(call)
            return
        if await self.store.get_call(call_id) is not None:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call has already ended; start a new one")
        if self.closing:
            raise SignalingError(ErrorCode.INVALID_STATE, "the server is shutting down")
        now = self.clock.now()
        customer = claims.customer_id or (str(context["customer_id"]) if context.get("customer_id") else None)
        party = Party(Role.SHOPPER, claims.sub, participant_id(Role.SHOPPER, claims.sub), session, name=claims.name)
        call = Call(call_id, now, party, queue=self.queues.queue_for(context.get("category")),
                    context=context, priority=claims.priority, customer_id=customer,
                    audio_only=context.get("media") == "audio")
        self.calls[call_id] = call
        try:
            await self.store.create_call({
                "call_id": call_id, "created_at": now, "state": "waiting", "queue": call.queue,
                "shopper_id": claims.sub, "shopper_name": claims.name, "customer_id": customer, "agent_id": None,
                "priority": call.priority, "context": context, "audio_only": call.audio_only,
            })
        except BaseException:  # not recorded (the store is away): no call, the shopper may try again
            self.calls.pop(call_id, None)
            raise
        await self.record(call, "requested", queue=call.queue)
        session.send(self.joined(call, party, resumed=False))
        await self.dispatch.admit(call)

    def joined(self, call: Call, party: Party, resumed: bool) -> Joined:
        return Joined(role=party.role.value, participant_id=party.participant_id,
                       call_id=call.call_id, state=call.state.value, queue=call.queue,
                       ice_servers=self.ice_servers, resumed=resumed)

    # ------------------------------------------------------------------ shared by the facets
    def live_call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            raise SignalingError(ErrorCode.CALL_NOT_FOUND, f"no live call {call_id!r}")
        return call

    def send_state(self, call: Call) -> None:
        self.broadcast(call, CallStateChanged(call_id=call.call_id, state=call.state.value))

    def broadcast(self, call: Call, msg: ServerMessage) -> None:
        for party in call.audience():
            if party.session is not None:
                party.session.send(msg)

    async def event(self, call_id: str, kind: str, **fields: Any) -> None:
        event = {"type": kind, "at": self.clock.now(), **{k: v for k, v in fields.items() if v is not None}}
        await self.store.append_call_event(call_id, event)

    async def record(self, call: Call, kind: str, **fields: Any) -> None:
        """Append an event to the call's record."""
        await self.event(call.call_id, kind, **fields)

    def spawn(self, coro: Any) -> Any:
        """Run ``coro`` as a task this service owns (it survives its caller's cancellation)."""
        return self._tasks.spawn(coro)


    async def idle(self) -> None:
        """Wait until the tasks this service started (timers' work, cleanups) are done."""
        await self._tasks.drain()

    async def hand_over(self) -> None:
        """This holder resigns (SIGTERM): while its writes still count, it files what only its
        memory holds — the wrap-up drafts of agents still wrapping up (``timed_out``, as if the
        time ran out; the agent's ``wrap-up`` on the next holder replaces it)."""
        await self.wrap_ups.file_all()

    async def step_down(self) -> None:
        """In a cluster, another node now decides: forget the live calls without ending them
        (the new holder rebuilds them from the records) and stop every timer of theirs."""
        await self.dispatch.stop()
        for call in list(self.calls.values()):
            call.stop_ringing()
            for party in call.audience():
                if party.grace is not None:
                    party.grace.cancel()
                    party.grace = None
        self.calls.clear()
        self.queues.waiting.clear()
        self.dispatch.held.clear()
        self.presence.close()
        self.presence.agents.clear()
        forget = getattr(self.sfu, "forget_all", None)
        if forget is not None:
            forget()  # the rooms stay on their nodes; the new holder moves them
        self.dashboard.changed()

    async def close(self) -> None:
        """Node shutdown: end every live call with ``node_drain`` so records are complete."""
        await self.dispatch.stop()
        self.closing = True
        await self.ending.end_all()
        self.presence.close()
        if self.recording is not None:
            await self.recording.close()
        await self._tasks.drain()

