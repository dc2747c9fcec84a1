"""The photo face: a shopper or agent uploads a photo during a live call; the call's people
fetch it (``?token=`` is accepted too, for <img>). Storage is signaling/state/photos.py."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from signaling.api.limits import Action, RateLimits
from signaling.api.rest import authorize, json_error
from signaling.auth import Claims, Role, TokenService
from signaling.centre.calls import CallService
from signaling.centre.conversation import Conversation
from signaling.centre.figures import agents_of
from signaling.errors import ErrorCode, SignalingError
from signaling.state.photos import MAX_PHOTO_BYTES, PhotoStore
from signaling.state.store import StateStore

STAFF = {Role.AGENT, Role.SUPERVISOR, Role.QA, Role.ADMIN}


class PhotoApi:
    def __init__(self, calls: CallService, store: StateStore, tokens: TokenService,
                 conversation: Conversation, photos: PhotoStore, limits: RateLimits | None = None) -> None:
        self.limits = limits  # uploads per token (per address: the limits middleware)
        self.calls = calls
        self.store = store
        self.tokens = tokens
        self.conversation = conversation
        self.photos = photos

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/calls/{call_id}/photos", self.upload_photo),
            web.get("/api/calls/{call_id}/photos/{photo_id}", self.get_photo),
        ]

    def _auth(self, request: web.Request, roles: set[Role], allow_query: bool = False) -> Claims:
        return authorize(request, self.tokens, roles, allow_query)

    @staticmethod
    def _own_call(claims: Claims, call_id: str) -> None:
        if claims.role is Role.SHOPPER and claims.call_id != call_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "your token is for another call")

    async def upload_photo(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        claims = self._auth(request, {Role.SHOPPER, Role.AGENT})
        self._own_call(claims, call_id)
        if self.limits is not None:
            self.limits.check_token(Action.UPLOADS, f"{claims.role.value}:{claims.sub}")
        call = self.calls.calls.get(call_id)
        if call is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, "photos can be sent only during a live call")
        if claims.role is Role.AGENT and (call.agent is None or call.agent.identity != claims.sub):
            raise SignalingError(ErrorCode.FORBIDDEN, "you are not the agent of this call")
        if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES + 64 * 1024:
            return json_error(ErrorCode.TOO_LARGE, "photos are limited to 5 MB")
        data = await _read_upload(request)
        try:
            result = await self.conversation.photo_uploaded(call_id, claims.role, claims.name, data)
        except SignalingError as exc:
            # the photo itself has its own codes; the call having ended meanwhile is a 409
            photo = exc.code in (ErrorCode.TOO_LARGE, ErrorCode.IMAGE_TOO_LARGE, ErrorCode.NOT_AN_IMAGE)
            return json_error(exc.code, exc.message, None if photo else 409)
        return web.json_response(result, status=201)

    async def get_photo(self, request: web.Request) -> web.StreamResponse:
        call_id, photo_id = request.match_info["call_id"], request.match_info["photo_id"]
        claims = self._auth(request, STAFF | {Role.SHOPPER}, allow_query=True)
        self._own_call(claims, call_id)
        if claims.role is Role.AGENT:
            record = await self.store.get_call(call_id)
            if record is None or claims.sub not in agents_of(record):
                raise SignalingError(ErrorCode.FORBIDDEN, "you did not handle this call")
        try:
            path = self.photos.open(call_id, photo_id)
        except SignalingError as exc:
            return json_error(exc.code, exc.message, 404)
        return web.FileResponse(path, headers={"Content-Type": "image/jpeg",
                                               "Cache-Control": "private, max-age=300"})


async def _read_upload(request: web.Request) -> bytes:
    """Raw body (image/jpeg, image/png) or a multipart form with a 'photo' field; bounded."""
    limit = MAX_PHOTO_BYTES + 1
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "photo":
                chunks, size = [], 0
                while chunk := await part.read_chunk(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        break
                    chunks.append(chunk)
                return b"".join(chunks)[:limit]
        return b""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            break
    return b"".join(chunks)[:limit]
