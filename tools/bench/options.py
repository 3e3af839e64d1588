"""What a bench run was asked to do: the options that make two runs comparable."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from tools.arguments import positive_int


def concurrency_list(text: str) -> tuple[int, ...]:
    """Comma-separated concurrencies ("1,64"), each at least 1, duplicates dropped, in order."""
    values: list[int] = []
    for part in text.split(","):
        value = positive_int(part.strip())
        if value not in values:
            values.append(value)
    return tuple(values)


@dataclass(frozen=True)
class BenchOptions:
    """The options a run's figures depend on; equal options make runs comparable."""

    concurrency: tuple[int, ...]
    duration_s: float
    warmup_s: float
    models: int
    latency_ms: float
    spawn_stack: bool
    existing_model: bool
    dispatch_policy: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        return cls(
            concurrency=tuple(args.concurrency),
            duration_s=float(args.duration),
            warmup_s=float(args.warmup),
            models=1 if args.model_id else int(args.models),
            latency_ms=float(args.latency_ms),
            spawn_stack=bool(args.spawn_stack),
            existing_model=bool(args.model_id),
            dispatch_policy=getattr(args, "dispatch_policy", None),
        )

    def to_json(self) -> dict[str, Any]:
        # The policy only when set: earlier runs (which left it alone) stay comparable.
        policy = {} if self.dispatch_policy is None else {"dispatch_policy": self.dispatch_policy}
        return {
            **policy,
            "concurrency": list(self.concurrency),
            "duration": self.duration_s,
            "warmup": self.warmup_s,
            "models": self.models,
            "latency_ms": self.latency_ms,
            "spawn_stack": self.spawn_stack,
            "existing_model": self.existing_model,
        }
