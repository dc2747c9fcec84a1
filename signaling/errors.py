"""The one error type of signaling: a stable code (with its HTTP status) and a human sentence.

Over the WebSocket it is ``error{code, message, ref}``; over HTTP ``{"error": {code, message}}``
with the code's status. docs/protocol.md lists every code.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class ErrorCode(str, Enum):
    status: int

    def __str__(self) -> str:
        return self.value  # the wire code, in logs and f-strings too

    @classmethod
    def from_code(cls, code: str) -> ErrorCode:
        """The member whose wire code is ``code`` (ValueError for an unknown one)."""
        return cls._value2member_map_[code]  # type: ignore[return-value]

    def __new__(cls, code: str, status: int) -> ErrorCode:  # noqa: PYI034 - an Enum member factory
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        return member

    # the message itself
    BAD_JSON = ("bad_json", 400)
    MESSAGE_TOO_LARGE = ("message_too_large", 413)
    UNSUPPORTED_VERSION = ("unsupported_version", 400)
    UNKNOWN_TYPE = ("unknown_type", 400)
    INVALID_MESSAGE = ("invalid_message", 400)
    BAD_REQUEST = ("bad_request", 400)
    RATE_LIMITED = ("rate_limited", 429)
    TOO_MANY_CONNECTIONS = ("too_many_connections", 429)
    # who is asking
    UNAUTHORIZED = ("unauthorized", 401)
    FORBIDDEN = ("forbidden", 403)
    NOT_JOINED = ("not_joined", 401)
    ALREADY_JOINED = ("already_joined", 409)
    REPLACED = ("replaced", 409)
    # what it is about
    CALL_NOT_FOUND = ("call_not_found", 404)
    NOT_FOUND = ("not_found", 404)
    INVALID_STATE = ("invalid_state", 409)
    TOO_MANY_WAITING = ("too_many_waiting", 429)
    BAD_SDP = ("bad_sdp", 400)
    BAD_CANDIDATE = ("bad_candidate", 400)
    TOO_LARGE = ("too_large", 413)
    NOT_AN_IMAGE = ("not_an_image", 400)
    IMAGE_TOO_LARGE = ("image_too_large", 413)
    # staff accounts, shop API keys, webhooks, origins
    BAD_CREDENTIALS = ("bad_credentials", 401)
    ACCOUNT_LOCKED = ("account_locked", 429)
    ACCOUNT_DISABLED = ("account_disabled", 403)
    ACCOUNT_EXISTS = ("account_exists", 409)
    ACCOUNT_NOT_FOUND = ("account_not_found", 404)
    WEAK_PASSWORD = ("weak_password", 400)
    SSO_FAILED = ("sso_failed", 401)
    SSO_NO_ROLE = ("sso_no_role", 403)
    API_KEY_NOT_FOUND = ("api_key_not_found", 404)
    WEBHOOK_NOT_FOUND = ("webhook_not_found", 404)
    TOO_MANY_WEBHOOKS = ("too_many_webhooks", 409)
    DELIVERY_NOT_FOUND = ("delivery_not_found", 404)
    ORIGIN_NOT_ALLOWED = ("origin_not_allowed", 403)
    ORDER_CONFLICT = ("order_conflict", 409)
    QUICK_REPLY_NOT_FOUND = ("quick_reply_not_found", 404)
    TOO_MANY_QUICK_REPLIES = ("too_many_quick_replies", 409)
    # us
    SERVICE_UNAVAILABLE = ("service_unavailable", 503)
    AT_CAPACITY = ("at_capacity", 503)  # a media node refuses a new room (its admission limit)
    INTERNAL_ERROR = ("internal_error", 500)


class SignalingError(Exception):
    """A request refused, anywhere in signaling (edge, contact centre, stores, recording)."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref  # the client's message id, when the refusal answers one
        self.retry_after = retry_after  # seconds, when trying again later can succeed (a lockout, a rate limit)

    @property
    def status(self) -> int:
        return self.code.status


class CloseCode(IntEnum):
    """Why the server closes a WebSocket (RFC 6455 §7.4; 4000-4999 are ours)."""

    LEFT = 1000  # the client sent ``leave``
    GOING_AWAY = 1001  # the server is shutting down (its calls ended ``node_drain`` first)
    POLICY = 1008  # a message flood, or a client that does not read its messages
    TOO_BIG = 1009  # a frame over the 64 KiB limit (after ``message_too_large``)
    UNAUTHORIZED = 4401  # no join within the join deadline (10 s), or a bad / expired token
    TOO_MANY = 4429  # the client's address already has its cap of open sockets
    REPLACED = 4409  # the same agent or party joined again on another connection
    CENTRE_MOVED = 1012  # cluster: another node decides now (or the one relayed to went away); reconnect
