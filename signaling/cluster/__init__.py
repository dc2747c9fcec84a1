"""The cluster: one contact centre across many node processes on one Redis.

One node holds the centre lease (``lease.py``, ``centre_role.py``) and runs the
``CallService``; the others relay sockets and REST to it (``forward.py``). ``cluster_node.py``
watches the other nodes and moves the calls of a dead or drained one; ``rebuild.py`` picks the
live calls up from their records when the lease changes hands. Media lives where there is room:
``media_agent.py`` runs on every node and carries out room commands against the local
``SfuNode``; ``remote_rooms.py`` / ``remote_room.py`` are the facade the centre holds as its
``sfu``; ``placement.py`` chooses the node for a new room; ``remote_recorder.py`` records on
the node that carries the media; ``cluster_media.py`` (``ClusterMedia``) builds one node's
share. Commands and events travel over the per-node channels of ``signaling.state.channels``
(docs/design.md § Scale-out).
"""
