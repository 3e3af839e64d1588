"""The pre/post-process functions a connector action may name, checked when it is saved.

A value starting with "connector." names a built-in function and must be one ML Commons
knows; anything else is a Painless script, compiled here so a script that cannot run is
refused at create/update with the line and the problem, not at the first predict.
"""

from __future__ import annotations

from typing import Any

from common import painless
from common.errors import IllegalArgumentError

PRE = "connector.pre_process."
POST = "connector.post_process."

# ML Commons' MLPreProcessFunction names (3.x), "bedrock.nova.embedding" included (blueprints).
PRE_FUNCTIONS = frozenset(
    PRE + name
    for name in (
        "openai.embedding",
        "default.embedding",
        "cohere.embedding",
        "cohere.multimodal_embedding",
        "bedrock.embedding",
        "bedrock.multimodal_embedding",
        "bedrock.nova.embedding",
        "bedrock.nova.text_embedding",
        "bedrock.nova.image_embedding",
        "bedrock.nova.video_embedding",
        "bedrock.nova.audio_embedding",
        "cohere.rerank",
        "bedrock.rerank",
        "default.rerank",
        "multimodal.embedding",  # ML Commons 2.x name of bedrock.multimodal_embedding
    )
)

# ML Commons' MLPostProcessFunction names.
POST_FUNCTIONS = frozenset(
    POST + name
    for name in (
        "openai.embedding",
        "cohere.embedding",
        "default.embedding",
        "bedrock.embedding",
        "bedrock.nova.embedding",
        "cohere_v2.embedding.float",
        "cohere_v2.embedding.int8",
        "cohere_v2.embedding.uint8",
        "cohere_v2.embedding.binary",
        "cohere_v2.embedding.ubinary",
        "bedrock_v2.embedding.float",
        "bedrock_v2.embedding.binary",
        "bedrock.batch_job_arn",
        "cohere.rerank",
        "bedrock.rerank",
        "default.rerank",
        "mlcommons.passthrough",
    )
)


def check_actions(actions: list[dict[str, Any]] | None) -> None:
    """Refuse unknown built-in names and scripts that do not compile (400)."""
    for action in actions or []:
        _check(action.get("pre_process_function"), PRE_FUNCTIONS, "pre_process_function")
        _check(action.get("post_process_function"), POST_FUNCTIONS, "post_process_function")


def _check(function: Any, known: frozenset[str], field: str) -> None:
    if function is None:
        return
    if not isinstance(function, str):
        raise IllegalArgumentError(f"{field} must be a string")
    if function.startswith("connector."):
        if function not in known:
            raise IllegalArgumentError(f"Unsupported {field}: {function}")
        return
    if "${parameters." in function:
        return  # filled from parameters at predict, as ML Commons does: compiled then
    painless.cached(function, f"script in {field}")
