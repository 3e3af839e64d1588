"""Micro-benchmark of `_search` evaluation over 10,000 models (no Redis, no HTTP).

Run: `.venv/bin/python -m tools.search_bench [--models N] [--rounds R]`. It times what the
models `_search` route does after reading the records: parse and compile the body, build each
record's public view, run the query, sort and page. Reading 10,000 records from Redis comes on
top (measure it through the API).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from common.models import public_view
from common.records import FunctionName, MLModel, MLModelState
from common.search.engine import run_search
from common.search.mappings import mapping_for
from common.search.request import parse_request

INDEX = ".plugins-ml-model"
BODIES: dict[str, dict[str, Any]] = {
    "match_all (page of 10)": {"query": {"match_all": {}}},
    "bool filter+should+must_not": {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"model_state": "DEPLOYED"}},
                    {"range": {"created_time": {"gte": 1_700_000_002_000}}},
                ],
                "should": [{"match": {"name": "chat"}}, {"prefix": {"name.keyword": "embed"}}],
                "must_not": [{"terms": {"model_group_id": ["g1", "g2"]}}],
                "minimum_should_match": 1,
            }
        },
        "size": 10,
    },
    "bool + sort on two keys, size 100": {
        "query": {"bool": {"must": [{"match": {"name": "model"}}]}},
        "sort": [{"model_state": "asc"}, {"created_time": {"order": "desc"}}],
        "size": 100,
    },
}


def make_models(count: int) -> list[tuple[str, MLModel]]:
    """Build `count` models with varied names, states, groups and times."""
    states = (MLModelState.DEPLOYED, MLModelState.REGISTERED, MLModelState.UNDEPLOYED)
    kinds = ("chat", "embed", "rerank", "vision")
    return [
        (
            f"model-{n:06d}",
            MLModel(
                name=f"{kinds[n % 4]} model {n}",
                model_group_id=f"g{n % 50}",
                algorithm=FunctionName.REMOTE,
                model_version=str(n % 7 + 1),
                model_state=states[n % 3],
                created_time=1_700_000_000_000 + n,
                last_updated_time=1_700_000_000_000 + n,
                is_hidden=False,
                connector_id=f"conn-{n % 20}",
            ),
        )
        for n in range(count)
    ]


def main() -> None:
    """Print the median and worst time of each body over the rounds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    pairs = make_models(args.models)
    mapping = mapping_for(INDEX)
    for label, body in BODIES.items():
        wall, cpu, total = [], [], 0
        for _ in range(args.rounds):
            started, started_cpu = time.perf_counter(), time.thread_time()
            request = parse_request(body, {}, mapping)
            answer = run_search(request, pairs, public_view, INDEX, mapping)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            total = answer["hits"]["total"]["value"]
        # CPU time is reported besides wall time: on a shared machine it is the steadier figure.
        print(
            f"{label:36s} hits {total:6d}  wall median {statistics.median(wall):6.1f} ms"
            f"  cpu median {statistics.median(cpu):6.1f} ms  min {min(cpu):6.1f} ms"
        )


if __name__ == "__main__":
    main()
