"""The queues: which calls wait where, in which order, and what shoppers are told about it.

Queue configuration comes from the composition root (``SILKLINE_QUEUES`` / defaults); a
shopper's page context picks the queue through its ``category`` (the entry point).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signaling.centre.routing import QueueConfig, RelaxStep, WaitingCall, order

DEFAULT_QUEUES = [
    QueueConfig("general", strategy="longest_idle", record="ask"),
    QueueConfig("jewellery", strategy="best_skill",
                relax=(RelaxStep(0, 3), RelaxStep(20, 2), RelaxStep(40, 1)),
                returning_customer_s=15, overflow_after_s=120, overflow_to="general",
                record="always"),
    QueueConfig("electronics", strategy="fewest_calls", overflow_after_s=120, overflow_to="general",
                record="never"),
]
DEFAULT_ENTRY_POINTS = {"jewellery": "jewellery", "rings": "jewellery", "watches": "jewellery",
                        "electronics": "electronics", "phones": "electronics"}


@dataclass
class Queues:
    configs: dict[str, QueueConfig]
    entry_points: dict[str, str] = field(default_factory=dict)
    default: str = "general"
    waiting: dict[str, WaitingCall] = field(default_factory=dict)

    @classmethod
    def from_config(cls, queues: list[QueueConfig] | None = None,
                    entry_points: dict[str, str] | None = None) -> Queues:
        configs = {q.name: q for q in (queues or DEFAULT_QUEUES)}
        default = "general" if "general" in configs else next(iter(configs))
        return cls(configs, dict(DEFAULT_ENTRY_POINTS if entry_points is None else entry_points), default)

    def queue_for(self, category: object) -> str:
        key = str(category or "").strip().lower()
        name = self.entry_points.get(key, key)
        return name if name in self.configs else self.default

    def add(self, entry: WaitingCall) -> None:
        self.waiting[entry.call_id] = entry

    def remove(self, call_id: str) -> WaitingCall | None:
        return self.waiting.pop(call_id, None)

    def in_queue(self, name: str) -> list[WaitingCall]:
        return order(c for c in self.waiting.values() if c.queue == name)

    def position(self, call_id: str) -> int | None:
        """1-based position among the calls that will be served before or with this one."""
        entry = self.waiting.get(call_id)
        if entry is None:
            return None
        ahead = order(self.in_queue(entry.queue))
        return next(i for i, c in enumerate(ahead, 1) if c.call_id == call_id)

    def is_full(self, name: str) -> bool:
        return len(self.in_queue(name)) >= self.configs[name].max_waiting
