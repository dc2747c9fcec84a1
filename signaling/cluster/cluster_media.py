"""ClusterMedia: one node's share of the cluster's media, built from the pieces the composition
root already has (its ``SfuNode``, its ``Recorder`` on the shared recordings directory, the
node registry) — the per-node channels, the media agent that serves this node's rooms, and for
the centre the ``RemoteRooms`` facade (``CallService.sfu``) and the ``RemoteRecorder``
(``RecordingService.recorder``).

Wiring, in ``silkline/app.py`` (cluster mode)::

    media = ClusterMedia(config.redis_url, node_id, sfu, recorder, nodes.nodes, limit, clock)
    calls = CallService(media.rooms, ...); recording = RecordingService(media.recorder, ...)
    # lifetime: await media.open() before calls.start(); await media.close() after sfu.close()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from media.clock import Clock
from sfu import AdmissionLimit, SfuNode
from signaling.cluster.media_agent import MediaAgent
from signaling.cluster.placement import LeastLoaded, NodeViews, Place
from signaling.cluster.remote_recorder import RemoteRecorder, SharedRecorder
from signaling.cluster.remote_rooms import RemoteRooms
from signaling.state.channels import NodeChannels


class ClusterMedia:
    def __init__(self, redis_url: str, node_id: str, sfu: SfuNode, recorder: SharedRecorder | None,
                 nodes: Callable[[float], Awaitable[list[dict[str, Any]]]], limit: AdmissionLimit,
                 clock: Clock, *, place: Place | None = None, views_interval: float = 1.0) -> None:
        self.node_id = node_id
        self.channels = NodeChannels(redis_url, node_id, clock=clock)
        self.agent = MediaAgent(self.channels, sfu, recorder)
        self.views = NodeViews(nodes, clock, views_interval)
        self.placement = LeastLoaded(self.views, limit, node_id)
        self.rooms = RemoteRooms(self.channels, place=place, placement=self.placement,
                                 local_admission=sfu.admission)
        self.recorder = (RemoteRecorder(self.channels, recorder, self.rooms.node_of)
                         if recorder is not None else None)

    async def open(self) -> None:
        self.agent.install()
        await self.channels.open()
        await self.views.start()

    async def close(self) -> None:
        await self.agent.close()
        await self.rooms.close()
        await self.views.close()
        await self.channels.close()
