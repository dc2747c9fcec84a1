"""Signaling: the aiohttp face of Silkline (REST, WebSocket protocol, auth) and the call
lifecycle. It asks the SFU for media through ``sfu.SfuNode`` and never touches RTP."""
