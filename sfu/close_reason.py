"""Why something closed; travels with every close and ends up in the call record."""

from enum import Enum


class CloseReason(str, Enum):
    HANG_UP = "hang_up"
    PEER_GONE = "peer_gone"
    TIMEOUT = "timeout"
    NODE_DRAIN = "node_drain"
    ERROR = "error"
    DECLINED = "declined"
    REPLACED = "replaced"  # a participant's peer connection replaced by a new one
    UNAVAILABLE = "unavailable"  # nobody could take the call (no agent, queue full, wait limit)
    CALLBACK = "callback"  # the shopper asked to be called back instead of waiting
    TRANSFERRED = "transferred"  # an agent handed the call on
    MONITOR_END = "monitor_end"  # a supervisor stopped monitoring
    MIGRATED = "migrated"  # the call's media moved to a new room (its node died or drained, an operator)
