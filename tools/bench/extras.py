"""Management-path figures: what a model's rate limiter adds to a predict, and how long a
`bool` `_search` over every registered model takes (with --models 10000: over 10,000)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tools.bench.load import LoadShape
from tools.bench.provision import api_call, setup_session, wait_deployed
from tools.bench.suite import measure
from tools.bench.targets import api_target

if TYPE_CHECKING:
    from tools.bench.progress import ProgressReporter

# A limit no run reaches: the bucket is taken on every predict and never refuses.
UNREACHED_LIMIT = {"limit": "100000000", "unit": "SECONDS"}
SEARCH_ROUNDS = 20
SEARCH_BODY: dict[str, Any] = {
    "query": {
        "bool": {
            "filter": [{"term": {"model_state": "DEPLOYED"}}],
            "should": [{"match": {"name": "bench"}}, {"prefix": {"name.keyword": "bench-model"}}],
            "must_not": [{"term": {"algorithm": "TEXT_EMBEDDING"}}],
            "minimum_should_match": 1,
        }
    },
    "size": 10,
}


@dataclass(frozen=True)
class Extras:
    """Rate limiter cost at concurrency 1 and bool-search latency."""

    plain_p50_ms: float
    limited_p50_ms: float
    plain_p99_ms: float
    limited_p99_ms: float
    search_total_hits: int
    search_p50_ms: float
    search_max_ms: float

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}

    def describe(self) -> str:
        added = self.limited_p50_ms - self.plain_p50_ms
        added99 = self.limited_p99_ms - self.plain_p99_ms
        return (
            f"rate limiter, api c=1 (alternating runs, medians): p50 {self.plain_p50_ms:.2f} ->"
            f" {self.limited_p50_ms:.2f} ms (added {added:+.2f} ms; target < 0.5 ms),"
            f" p99 {self.plain_p99_ms:.2f} -> {self.limited_p99_ms:.2f} ms ({added99:+.2f})\n"
            f"bool _search over {self.search_total_hits} models: p50 {self.search_p50_ms:.1f} ms,"
            f" max {self.search_max_ms:.1f} ms over {SEARCH_ROUNDS} searches (target < 100 ms)"
        )


async def _limited_twin(api: str, model_id: str) -> str:
    """Register and deploy a model on the same connector with a rate limiter; its id."""
    async with setup_session() as session:
        model = await api_call(session, "GET", f"{api}/_plugins/_ml/models/{model_id}")
        body = {
            "name": f"bench-limited-{int(time.time())}",
            "function_name": "remote",
            "connector_id": model["connector_id"],
            "rate_limiter": UNREACHED_LIMIT,
        }
        url = f"{api}/_plugins/_ml/models/_register?deploy=true"
        twin: str = (await api_call(session, "POST", url, body, "model_id"))["model_id"]
        await wait_deployed(session, api, twin)
        return twin


async def _searches(api: str) -> tuple[int, list[float]]:
    took: list[float] = []
    total = 0
    async with setup_session() as session:
        url = f"{api}/_plugins/_ml/models/_search"
        for _ in range(SEARCH_ROUNDS):
            started = time.perf_counter()
            answer = await api_call(session, "POST", url, SEARCH_BODY)
            took.append((time.perf_counter() - started) * 1000)
            total = int(answer["hits"]["total"]["value"])
    return total, took


async def measure_extras(
    api: str, model_id: str, shape: LoadShape, reporter: ProgressReporter | None
) -> Extras:
    """Alternate plain and rate-limited runs at c=1 (the machine drifts), then search."""
    twin = await _limited_twin(api, model_id)
    plain, limited = api_target(api, [model_id]), api_target(api, [twin])
    p50: dict[str, list[float]] = {"plain": [], "limited": []}
    p99: dict[str, list[float]] = {"plain": [], "limited": []}
    for _ in range(2):
        for name, target in (("plain", plain), ("limited", limited)):
            record = await measure(target, shape, reporter)
            p50[name].append(record.stats.p50_ms)
            p99[name].append(record.stats.p99_ms)
    total, took = await _searches(api)
    return Extras(
        plain_p50_ms=statistics.median(p50["plain"]),
        limited_p50_ms=statistics.median(p50["limited"]),
        plain_p99_ms=statistics.median(p99["plain"]),
        limited_p99_ms=statistics.median(p99["limited"]),
        search_total_hits=total,
        search_p50_ms=statistics.median(took),
        search_max_ms=max(took),
    )
