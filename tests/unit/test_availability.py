"""Opening hours and the wait estimate from recent answer times."""

from __future__ import annotations

from datetime import datetime

import pytest

from media.clock import VirtualClock
from sfu import SfuNode
from signaling.auth import Claims, Role
from signaling.centre.calls import CallService, CallSettings
from signaling.centre.queues import Queues
from signaling.centre.routing import QueueConfig, parse_hours
from signaling.state.memory import MemoryStateStore
from tests.unit.test_routing import FakeSession


def test_opening_hours_are_checked_at_start_up():
    assert parse_hours("09:00-17:30") == (540, 1050)
    for bad in ("17:00-09:00", "9-", "25:00-26:00", "nine-five"):
        with pytest.raises(ValueError):
            QueueConfig("q", hours=bad)


async def test_closed_before_opening_time_and_open_during_it():
    at_8 = datetime(2026, 12, 1, 8, 30).timestamp()  # server local time
    clock = VirtualClock(at_8)
    service = CallService(SfuNode(), MemoryStateStore(None, clock), CallSettings(),
                          queues=Queues.from_config([QueueConfig("general", hours="09:00-17:00")], {}),
                          clock=clock)
    ann = FakeSession(Claims(Role.AGENT, "ann", None, None, 1e12, skills={"general": 3}))
    await service.join(ann, ann.claims, None)
    closed = service.availability.of("general")
    assert closed["open"] is False and closed["opens_at"] == "09:00" and closed["online"] == 1
    await clock.advance(3600)
    opened = service.availability.of("general")
    assert opened["open"] is True and "opens_at" not in opened
    await service.close()


async def test_the_estimate_is_never_below_what_recent_callers_waited():
    clock = VirtualClock(1000.0)
    service = CallService(SfuNode(), MemoryStateStore(None, clock), CallSettings(default_handle_s=100),
                          queues=Queues.from_config([QueueConfig("general")], {}), clock=clock)
    assert service.availability.estimate("general", 1) is None  # nobody on duty
    ann = FakeSession(Claims(Role.AGENT, "ann", None, None, 1e12, skills={"general": 3}))
    await service.join(ann, ann.claims, None)
    assert service.availability.estimate("general", 1) == 0  # an expert is free
    assert service.availability.estimate("general", 3) == 200  # two ahead of the free one
    for waited in (30, 50):
        service.availability.answered("general", waited)
    assert service.availability.estimate("general", 1) == 40
    await service.close()
