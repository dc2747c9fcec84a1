"""The cluster: what lets one contact centre drive rooms that live on other nodes.

``media_agent.py`` runs on every node and carries out room commands against the local
``SfuNode``; ``remote_rooms.py`` / ``remote_room.py`` are the facade the centre holds as its
``sfu`` in cluster mode; ``placement.py`` chooses the node for a new room; ``remote_recorder.py``
records on the node that carries the media; ``cluster_media.py`` (``ClusterMedia``) builds one
node's share from the pieces the composition root has. Commands and events travel over the
per-node channels of ``signaling.state.channels``.
"""
