"""Signaling: the aiohttp face of Silkline and the contact centre behind it. It asks the SFU
for media through ``sfu.SfuNode`` and never touches RTP.

Three layers, outside in (each only imports the ones below it, plus what all share:
``auth.py`` (tokens, roles), ``errors.py`` (ErrorCode, CloseCode), ``server_messages.py``
(what the server sends, typed), ``turn.py`` (TURN credentials), ``images.py`` (the upload
guard); ``tests/unit/test_architecture.py`` checks it):

- ``api/``    the faces: ``ws.py`` (WebSocket endpoint, sessions), ``protocol.py`` (client
              messages, checked), ``rest.py``, ``bodies.py`` (REST bodies), ``photos.py`` (photo
              upload face), ``qa_api.py``, ``media_urls.py`` (signed links), ``demo.py`` (demo
              tokens), ``pages.py``, ``health.py``, ``metrics_api.py``, ``page_security.py``
              (CSP and security headers), ``accounts_api.py`` (login, users), ``shop_api.py``
              (API keys, shopper tokens), ``webhooks_api.py``, ``origins.py`` (allowed origins,
              CORS), ``openapi.py`` + ``openapi_api.py`` (the document and its docs page).
- ``centre/`` the contact centre: ``calls.py`` (CallService, the lifecycle core, and the map of
              its facets), ``dispatch.py`` (queues → agent, ringing), ``routing.py`` (how an agent
              is chosen), ``presence.py``, ``agent_actions.py`` (accept, decline, transfer),
              ``reconnect.py`` (a party's network drops: grace period), ``negotiation.py``,
              ``ending.py`` (hang-up, callbacks, the end of a call), ``wrap_up.py``,
              ``supervision.py``, ``dashboard.py``, ``queues.py``, ``figures.py``,
              ``conversation.py``, ``recording.py`` (policy, RecorderPort, finalising),
              ``call_recording.py`` (consent, pause), ``accounts.py`` (staff accounts, argon2,
              lockout), ``api_keys.py``, ``webhooks.py`` (signed deliveries, retries, log),
              ``store_events.py`` (what the store made durable → webhooks).
- ``state/``  where it is kept: ``store.py`` (StateStore), ``memory.py`` (embedded, journalled),
              ``redis_store.py``, ``photos.py`` (photo files), ``registry.py`` (accounts, API
              keys, webhooks: a JSON file or Redis).
- ``metrics/`` the Prometheus series and the sampler that reads the centre and the SFU.
"""
