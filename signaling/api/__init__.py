"""The faces of signaling: WebSocket, REST, QA, demo tokens, pages, signed media links."""
