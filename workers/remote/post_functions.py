"""ML Commons' built-in post-process functions other than embeddings: rerank, batch, passthrough.

Each takes what its default JSONPath (or the connector's response_filter) picks from the
answer and returns model tensors, with ML Commons' messages for input it cannot use.
"""

from __future__ import annotations

from typing import Any

from common.errors import IllegalArgumentError
from workers.remote.jsonpath import MISSING, query

P = "connector.post_process."
DEFAULT_PATHS = {
    P + "cohere.rerank": "$.results",
    P + "bedrock.rerank": "$.results",
    P + "default.rerank": "$[*]",
    P + "bedrock.batch_job_arn": "$",
    P + "mlcommons.passthrough": "$",
}


def apply(function: str, data: Any, response_filter: str | None) -> list[dict[str, Any]]:
    """Return the tensors of a built-in function applied to the parsed answer."""
    picked = (
        MISSING
        if isinstance(data, str)
        else query(data, response_filter or DEFAULT_PATHS[function])
    )
    if picked is MISSING or picked is None:
        raise IllegalArgumentError("Can't run post process function as model output is null")
    if function.endswith(".rerank"):
        score_key = "relevanceScore" if function == P + "bedrock.rerank" else "relevance_score"
        return _rerank(picked, score_key)
    if function == P + "bedrock.batch_job_arn":
        return _batch_job_arn(picked)
    return _passthrough(picked)


def _rerank(results: Any, score_key: str) -> list[dict[str, Any]]:
    """One similarity tensor per document, in the documents' original order."""
    if not isinstance(results, list):
        raise IllegalArgumentError("Post process function input is not a List.")
    if results and not isinstance(results[0], dict):
        raise IllegalArgumentError("Post process function input is not a List of Map.")
    scores: list[Any] = [None] * len(results)
    for result in results:
        if not isinstance(result, dict) or "index" not in result or score_key not in result:
            raise IllegalArgumentError(f"The rerank result should contain index and {score_key}.")
        index, score = result["index"], result[score_key]
        if type(index) is not int or not 0 <= index < len(scores):
            raise IllegalArgumentError(f"The rerank result has an invalid index: {index}")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise IllegalArgumentError(f"{score_key} must be a number")
        scores[index] = float(score)
    if any(score is None for score in scores):
        raise IllegalArgumentError("The rerank result does not score every document")
    return [
        {"name": "similarity", "data_type": "FLOAT32", "shape": [1], "data": [score]}
        for score in scores
    ]


def _batch_job_arn(job: Any) -> list[dict[str, Any]]:
    if not isinstance(job, dict):
        raise IllegalArgumentError("Post process function input is not a Map.")
    arn = job.get("jobArn")
    if arn is None:
        raise IllegalArgumentError("job arn is missing.")
    processed = {**job, "processedJobArn": str(arn).replace("/", "%2F")}
    return [{"name": "response", "dataAsMap": processed}]


def _passthrough(value: Any) -> list[dict[str, Any]]:
    """An ML Commons answer keeps its tensors; anything else is one response tensor."""
    if not isinstance(value, dict | list):
        raise IllegalArgumentError("Post process function input must be a Map or List")
    results = value.get("inference_results") if isinstance(value, dict) else None
    if not isinstance(results, list):
        return [
            {
                "name": "response",
                "dataAsMap": value if isinstance(value, dict) else {"response": value},
            }
        ]
    tensors = []
    for result in results:
        outputs = result.get("output") if isinstance(result, dict) else None
        for output in outputs if isinstance(outputs, list) else []:
            if isinstance(output, dict):
                tensors.append(_tensor(output))
    return tensors


def _tensor(output: dict[str, Any]) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": output.get("name", "output")}
    for key in ("data_type", "shape", "data", "result", "dataAsMap"):
        if output.get(key) is not None:
            tensor[key] = output[key]
    return tensor
