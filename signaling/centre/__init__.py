"""The contact centre: calls, queues, routing, agents, supervision, recording policy."""
