"""The OpenAPI 3 document of the REST API, written by hand (``GET /api/openapi.json``).

Every route the app serves over HTTP is here with every status it answers; the test suite
runs schemathesis against a live server with this document (tests/integration/test_openapi.py)
and fails on an undocumented status, a body that does not match, or any 500.
docs/protocol.md stays the prose reference; this is the machine-readable one.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ERROR_WORDS = {
    400: "the request is malformed (bad_json, invalid_message, weak_password, bad_request, not_an_image)",
    401: "no token, or a token, password or API key that is not valid (unauthorized, bad_credentials, "
         "sso_failed)",
    403: "the role may not do this (forbidden), or account_disabled, origin_not_allowed",
    404: "no such thing (call_not_found, account_not_found, api_key_not_found, webhook_not_found, "
         "delivery_not_found, quick_reply_not_found, not_found)",
    409: "not possible in the current state (invalid_state, account_exists, too_many_webhooks, "
         "order_conflict, too_many_quick_replies)",
    413: "the body is over its limit (too_large, image_too_large)",
    429: "rate_limited: over a per-address or per-token budget, or account_locked: too many failed "
         "sign-ins (see Retry-After)",
    503: "the state store is unreachable or the node is draining (see Retry-After)",
}


def _error(status: int) -> dict[str, Any]:
    return {"description": ERROR_WORDS[status],
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any] | None = None, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema or {"type": "object"}}}}


def op(summary: str, tag: str, ok: tuple[int, dict[str, Any]], errors: tuple[int, ...] = (),
       *, auth: str | None = "bearer", params: list[dict[str, Any]] | None = None,
       body: dict[str, Any] | None = None, body_media: str = JSON,
       also: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "tags": [tag],
        "responses": {str(ok[0]): ok[1], **{str(s): r for s, r in (also or {}).items()},
                      **{str(s): _error(s) for s in errors}},
        "security": [{auth: []}] if auth else [],
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {body_media: {"schema": body}}}
    return operation


def _optional_body(operation: dict[str, Any]) -> dict[str, Any]:
    operation["requestBody"]["required"] = False
    return operation


def path_param(name: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 80}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query(name: str, kind: str = "string", minimum: float | None = None, maximum: float | None = None,
          enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": False, "schema": schema}


def obj(required: list[str] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


TEXT = {"type": "string", "maxLength": 200}
WHEN = [query("from", "number", 0, 4e9), query("to", "number", 0, 4e9)]
CALL = path_param("call_id")
ROLES = ["agent", "supervisor", "qa", "admin"]
AVAILABILITY = obj(["queue", "online", "available", "open"], queue=TEXT, online={"type": "integer"},
                   available={"type": "integer"}, open={"type": "boolean"}, opens_at=TEXT,
                   waiting={"type": "integer"}, estimated_wait_s={"type": "integer"})
MONEY = {"type": "string", "pattern": "^[0-9]{1,12}([.][0-9]{1,4})?$", "example": "129.90"}
SUMMARY = obj(["offered", "answered", "converted", "conversion_rate", "revenue_after_calls"],
              offered={"type": "integer"}, answered={"type": "integer"}, abandoned={"type": "integer"},
              callbacks={"type": "integer"}, converted={"type": "integer"},
              conversion_rate={"type": "number", "nullable": True,
                               "description": "converted calls / answered calls"},
              revenue_after_calls={"type": "object", "additionalProperties": {"type": "string"},
                                   "description": "per ISO 4217 currency, the orders' decimal sum"},
              average_rating={"type": "number", "nullable": True},
              service_level={"type": "number", "nullable": True})
FIGURES = obj(["total", "queues", "agents"], total=SUMMARY,
              queues={"type": "object", "additionalProperties": SUMMARY},
              agents={"type": "object", "additionalProperties": SUMMARY})
ORDER = obj(["order_id", "customer_id", "amount", "currency", "at", "call_id"],
            order_id=TEXT, shop=TEXT, customer_id=TEXT, amount={"type": "string"},
            currency={"type": "string"}, at={"type": "number"}, received_at={"type": "number"},
            call_id={"type": "string", "nullable": True, "description": "the call this order converted"},
            agent_id={"type": "string", "nullable": True}, queue={"type": "string", "nullable": True})
ORDER_BODY = obj(["order_id", "customer_id", "amount", "currency"],
                 order_id={"type": "string", "minLength": 1, "maxLength": 64},
                 customer_id={"type": "string", "minLength": 1, "maxLength": 64},
                 amount=MONEY | {"description": "a decimal string in the currency's major unit"},
                 currency={"type": "string", "pattern": "^[A-Z]{3}$", "example": "EUR"},
                 at={"description": "when the order was placed: unix seconds or ISO 8601 with its offset; "
                                    "default now", "oneOf": [{"type": "number"}, {"type": "string"}]})
QUICK_REPLY = obj(["reply_id", "queue", "title", "text"], reply_id=TEXT, queue=TEXT, title=TEXT,
                  text={"type": "string"}, created_at={"type": "number"}, updated_at={"type": "number"})
QUICK_REPLIES = obj(["quick_replies"], queue=TEXT, quick_replies={"type": "array", "items": QUICK_REPLY})
REPLY_TITLE = {"type": "string", "maxLength": 60}
REPLY_TEXT = {"type": "string", "maxLength": 2000}
EVENTS = ["call.ended", "call.started", "callback.requested", "rating.submitted", "recording.ready"]


def _media_responses() -> dict[str, Any]:
    """/media/{path} is outside /api: a path no route matches gets aiohttp's plain-text 404."""
    not_found = _error(404)
    not_found["content"]["text/plain"] = {"schema": {"type": "string"}}
    return {"200": _ok("the file", {"type": "string", "format": "binary"}, "application/octet-stream"),
            "403": _error(403), "404": not_found}


def _paths() -> dict[str, dict[str, Any]]:
    std = (401, 403)
    return {
        "/healthz": {"get": op("Alive while the process serves HTTP", "operations", (200, _ok("alive")), auth=None)},
        "/readyz": {"get": op("Ready: the store answers and the node is not draining", "operations",
                              (200, _ok("ready")), (503,), auth=None)},
        "/metrics": {"get": op("Prometheus metrics (a token only with --metrics-token)", "operations",
                               (200, _ok("exposition", {"type": "string"}, "text/plain")), (401,), auth=None)},
        "/api/health": {"get": op("Liveness with a few counts", "operations", (200, _ok("counts")), auth=None)},
        "/api/openapi.json": {"get": op("This document", "operations", (200, _ok("OpenAPI 3")), auth=None)},
        "/api/docs": {"get": op("A page listing this document", "operations",
                                (200, _ok("HTML", {"type": "string"}, "text/html")), auth=None)},
        "/api/docs/{asset}": {"get": op("The docs page's script and style", "operations",
                                        (200, _ok("the file", {"type": "string"}, "text/javascript")), (404,),
                                        auth=None, params=[path_param("asset")])},
        "/api/demo/tokens": {"post": op(
            "A demo token (demo mode only; staff roles only on loopback)", "tokens", (200, _ok("a token")),
            (400, 403, 429), auth=None, body=obj(role={"type": "string", "enum": ["shopper", *ROLES]},
                                            name=TEXT, vip={"type": "boolean"}, customer_id=TEXT))},
        "/api/login": {"post": op(
            "Staff sign-in: a staff token for a name and a password", "accounts",
            (200, _ok("a staff token", obj(["token", "role", "name"], token=TEXT, role=TEXT, name=TEXT))),
            (400, 401, 403, 429), auth=None,
            body=obj(["username", "password"], username=TEXT, password=TEXT))},
        "/api/login/options": {"get": op(
            "Which sign-ins the staff pages offer (password, demo on loopback, single sign-on)", "accounts",
            (200, _ok("the ways", obj(["password", "demo"], password={"type": "boolean"},
                                      demo={"type": "boolean"}))), auth=None)},
        "/api/login/refresh": {"post": op(
            "A fresh staff token for a valid one of an account (at most 12 h after signing in)", "accounts",
            (200, _ok("a staff token", obj(["token", "role", "name"], token=TEXT, role=TEXT, name=TEXT))),
            (401, 403))},
        "/api/oidc/start": {"get": op(
            "Single sign-on: to the OIDC provider (authorization code flow with PKCE)", "accounts",
            (302, {"description": "to the provider, or back to the page with ?sso_error="}), (404,), auth=None,
            params=[query("page", enum=["agent", "supervisor", "qa"])])},
        "/api/oidc/callback": {"get": op(
            "Single sign-on: the provider's answer; back to the page with ?sso=done or ?sso_error=", "accounts",
            (302, {"description": "back to the page"}), (404,), auth=None,
            params=[query("code"), query("state"), query("error")])},
        "/api/oidc/session": {"post": op(
            "Single sign-on: the staff token the callback left in this browser's cookie, once", "accounts",
            (200, _ok("a staff token", obj(["token", "role", "name"], token=TEXT, role=TEXT, name=TEXT))),
            (401,), auth=None)},
        "/api/users": {
            "get": op("Staff accounts (admin)", "accounts", (200, _ok("accounts")), std),
            "post": op("Add a staff account (admin)", "accounts", (201, _ok("the account")), (400, *std, 409),
                       body=obj(["name", "role", "password"], name=TEXT, role={"type": "string", "enum": ROLES},
                                password=TEXT, display_name=TEXT,
                                skills={"type": "object", "additionalProperties": {"type": "integer"}})),
        },
        "/api/users/{name}/disable": {"post": op("Refuse an account's sign-ins (admin)", "accounts",
                                                 (200, _ok("the account")), (400, *std, 404),
                                                 params=[path_param("name")])},
        "/api/users/{name}/enable": {"post": op("Allow an account's sign-ins again (admin)", "accounts",
                                                (200, _ok("the account")), (400, *std, 404),
                                                params=[path_param("name")])},
        "/api/users/{name}/reset": {"post": op("A new password; clears a lockout (admin)", "accounts",
                                               (200, _ok("the account")), (400, *std, 404),
                                               params=[path_param("name")], body=obj(["password"], password=TEXT))},
        "/api/shopper-tokens": {"post": op(
            "A shopper token for a new call, minted by a shop's backend with its API key", "tokens",
            (201, _ok("a shopper token", obj(["token", "call_id"], token=TEXT, call_id=TEXT))), (400, 401, 429),
            auth="apiKey", body=obj(customer_id=TEXT, name=TEXT, context={"type": "object"},
                                    priority={"type": "integer", "minimum": 0, "maximum": 100}))},
        "/api/api-keys": {
            "get": op("Shop API keys, never their secrets (admin)", "tokens", (200, _ok("keys")), std),
            "post": op("Create a shop API key, shown once (admin)", "tokens", (201, _ok("the key")), (400, *std),
                       body=obj(["shop"], shop=TEXT)),
        },
        "/api/api-keys/{key_id}": {"delete": op("Revoke a key (admin)", "tokens", (200, _ok("the key")),
                                                (*std, 404), params=[path_param("key_id")])},
        "/api/webhooks": {
            "get": op("Registered webhooks (admin)", "webhooks", (200, _ok("webhooks")), std),
            "post": op("Register a webhook URL; its signing secret is shown once (admin)", "webhooks",
                       (201, _ok("the webhook")), (400, *std, 409),
                       body=obj(["url"], url={"type": "string", "maxLength": 300},
                                events={"type": "array", "items": {"type": "string", "enum": EVENTS}})),
        },
        "/api/webhooks/{webhook_id}": {"delete": op("Remove a webhook (admin)", "webhooks",
                                                    (200, _ok("removed")), (*std, 404),
                                                    params=[path_param("webhook_id")])},
        "/api/webhooks/deliveries": {"get": op(
            "This node's webhook delivery log, newest first (admin)", "webhooks", (200, _ok("deliveries")),
            (400, *std), params=[query("limit", "integer", 1, 1000),
                                 query("state", enum=["pending", "delivered", "failed"])])},
        "/api/webhooks/deliveries/{delivery_id}/replay": {"post": op(
            "Send a logged delivery again (admin)", "webhooks", (202, _ok("the new delivery")), (*std, 404),
            params=[path_param("delivery_id")])},
        "/api/calls": {"get": op(
            "Call records, newest first (staff)", "calls", (200, _ok("calls")), (400, *std),
            params=[*WHEN, query("agent"), query("queue"), query("outcome"), query("limit", "integer", 1, 1000)])},
        "/api/calls/{call_id}": {"get": op("One call record (staff; a shopper for their own call)", "calls",
                                           (200, _ok("the record")), (*std, 404), params=[CALL])},
        "/api/calls/{call_id}/photos": {"post": op(
            "Send a photo during a live call (its shopper or agent)", "calls", (201, _ok("the photo")),
            (400, *std, 404, 409, 413, 429), params=[CALL], body={"type": "string", "format": "binary"},
            body_media="image/jpeg")},
        "/api/calls/{call_id}/photos/{photo_id}": {"get": op(
            "A photo of a call (its parties, staff)", "calls",
            (200, _ok("the JPEG", {"type": "string", "format": "binary"}, "image/jpeg")), (*std, 404),
            params=[CALL, path_param("photo_id")])},
        "/api/calls/{call_id}/conversation": {"get": op(
            "The chat and photos of an ended call as one self-contained HTML file (its shopper)", "calls",
            (200, _ok("the HTML file (an attachment)", {"type": "string"}, "text/html")), (*std, 404, 409),
            params=[CALL, query("tz")])},
        "/api/calls/{call_id}/rating": {"post": op(
            "Rate an answered call once it ended (its shopper)", "calls", (201, _ok("the rating")),
            (400, *std, 404, 409), params=[CALL],
            body=obj(["score"], score={"type": "integer", "minimum": 1, "maximum": 5}, comment=TEXT))},
        "/api/calls/{call_id}/callback": {"post": op(
            "Ask to be called back (the call's shopper), once", "calls", (201, _ok("open")),
            (400, *std, 404, 409), params=[CALL], body=obj(["name", "contact"], name=TEXT, contact=TEXT,
                                                          question=TEXT))},
        "/api/calls/{call_id}/move": {"post": _optional_body(op(
            "Move a live call's media to a new room, on another node in a cluster; its parties "
            "renegotiate (admin)", "calls",
            (202, _ok("moved", obj(["call_id", "from_node", "to_node"], call_id=TEXT,
                                   from_node={"type": "string", "nullable": True},
                                   to_node={"type": "string", "nullable": True}))),
            (400, *std, 404, 409, 503), params=[CALL],
            body=obj(to_node={"type": "string", "minLength": 1, "maxLength": 80})))},
        "/api/calls/{call_id}/customer-history": {"get": op(
            "A returning customer's past calls (only the agent the call rings for, or who serves it)",
            "calls", (200, _ok("the customer's past calls")), (*std, 404), params=[CALL])},
        "/api/calls/{call_id}/transfer-targets": {"get": op(
            "Colleagues available and queues, by name, to transfer to (the agent in the call)", "calls",
            (200, _ok("agents and queues")), (*std, 404), params=[CALL])},
        "/api/directory": {"get": op("Agents' names and queues for filters (qa, supervisor, admin)", "qa",
                                     (200, _ok("agents and queues")), std)},
        "/api/callbacks": {"get": op("Open callback requests (staff)", "calls", (200, _ok("callbacks")), std)},
        "/api/callbacks/{call_id}/done": {"post": op("Mark a callback done (staff)", "calls", (200, _ok("done")),
                                                     std, params=[CALL])},
        "/api/live": {"get": op("The live dashboard (supervisor, admin)", "calls", (200, _ok("dashboard")), std)},
        "/api/figures": {"get": op("Contact-centre figures, conversion and revenue after calls included "
                                   "(supervisor, qa, admin)", "calls",
                                   (200, _ok("figures", FIGURES)), (400, *std), params=WHEN)},
        "/api/orders": {
            "post": op("Report a shop's order with its API key; idempotent by order id (the same body "
                       "again: 200, the same answer; another body: 409 order_conflict)", "orders",
                       (201, _ok("the order, with the call it converted", ORDER)), (400, 401, 409),
                       auth="apiKey", body=ORDER_BODY, also={200: _ok("reported before: the same answer", ORDER)}),
            "get": op("Reported orders by time, oldest first (supervisor, qa, admin)", "orders",
                      (200, _ok("orders", obj(["orders"], orders={"type": "array", "items": ORDER}))),
                      (400, *std), params=WHEN),
        },
        "/api/quick-replies": {
            "get": op("Quick replies, by queue and title (admin, supervisor)", "quick replies",
                      (200, _ok("quick replies", QUICK_REPLIES)), std, params=[query("queue")]),
            "post": op("Add a queue's quick reply (admin)", "quick replies", (201, _ok("the reply", QUICK_REPLY)),
                       (400, *std, 409), body=obj(["queue", "title", "text"], queue=TEXT, title=REPLY_TITLE, text=REPLY_TEXT)),
        },
        "/api/quick-replies/{reply_id}": {
            "put": op("Change a quick reply (admin)", "quick replies", (200, _ok("the reply", QUICK_REPLY)),
                      (400, *std, 404), params=[path_param("reply_id")], body=obj(queue=TEXT, title=REPLY_TITLE, text=REPLY_TEXT)),
            "delete": op("Remove a quick reply (admin)", "quick replies", (204, {"description": "removed"}),
                         (*std, 404), params=[path_param("reply_id")]),
        },
        "/api/calls/{call_id}/quick-replies": {"get": op(
            "The quick replies of the call's queue (the agent serving it, supervisor, admin)", "quick replies",
            (200, _ok("quick replies", QUICK_REPLIES)), (*std, 404), params=[CALL])},
        "/api/sfu/stats": {"get": op("Rooms, publishers, subscribers (supervisor, admin)", "calls",
                                     (200, _ok("stats")), std)},
        "/api/queues/{queue}/availability": {"get": op(
            "Experts online for a queue, before calling (public)", "calls",
            (200, _ok("availability", AVAILABILITY)), (404,), auth=None, params=[path_param("queue")])},
        "/api/availability": {"get": op(
            "Experts online for the queue of a page category, before calling (public)", "calls",
            (200, _ok("availability", AVAILABILITY)), (), auth=None, params=[query("category")])},
        "/api/nodes": {"get": op("The node registry: every node's state, load and rooms (supervisor, admin)",
                                 "calls", (200, _ok("nodes")), std)},
        "/api/recordings": {"get": op(
            "Search recorded calls (qa, supervisor, admin)", "qa", (200, _ok("calls")), (400, *std),
            params=[*WHEN, query("agent"), query("queue"), query("min_duration", "number", 0, 1e6),
                    query("max_duration", "number", 0, 1e6), query("min_rating", "number", 1, 5),
                    query("disposition"), query("has_recording", enum=["true", "false"]),
                    query("limit", "integer", 1, 1000)])},
        "/api/recordings/{call_id}": {"get": op("A call's recordings with signed media links", "qa",
                                                (200, _ok("detail")), (*std, 404), params=[CALL])},
        "/api/recordings/{call_id}/compose": {"post": op(
            "Compose the QA playback file again (qa, admin)", "qa", (202, _ok("the job")), (400, *std, 404),
            params=[CALL], body=obj(layout={"type": "string", "enum": ["side_by_side", "pip"]}))},
        "/api/calls/{call_id}/scorecard": {"post": op(
            "Score a call (qa, supervisor, admin)", "qa", (201, _ok("the scorecard")), (400, *std, 404),
            params=[CALL], body=obj(["scores"], scores={"type": "object", "additionalProperties":
                                                        {"type": "integer", "minimum": 0, "maximum": 5}},
                                    comment=TEXT))},
        "/api/scorecards": {"get": op("Scorecards (qa, supervisor, admin)", "qa", (200, _ok("scorecards")), std)},
        "/api/customers/{customer_id}": {"delete": op(
            "Erase everything about one customer (admin)", "qa", (200, _ok("what was erased")), std,
            params=[path_param("customer_id")])},
        "/media/{path}": {"get": op(
            "A recording file by a signed, expiring link (from /api/recordings/{call_id})", "qa",
            (200, _ok("the file", {"type": "string", "format": "binary"}, "application/octet-stream")),
            (403, 404), auth=None, params=[path_param("path"), query("exp"), query("sig")])
            | {"responses": {**_media_responses()}}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Silkline REST API", "version": "1",
                 "description": "Calls, contact-centre figures, QA, staff accounts, shop API keys, "
                                "orders, quick replies and webhooks. Errors are {\"error\": {\"code\", \"message\"}}; codes are listed "
                                "in docs/protocol.md. The WebSocket protocol (/ws) is described there too."},
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "a token from /api/login, /api/shopper-tokens or the demo"},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "a shop API key (slk_…)"},
            },
            "schemas": {"Error": obj(["error"], error=obj(["code", "message"], code={"type": "string"},
                                                          message={"type": "string"}))},
        },
    }
