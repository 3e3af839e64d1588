"""Turn a remote model's answer into ML Commons' inference_results, or an error."""

from __future__ import annotations

import json
from typing import Any

from common.errors import RemoteModelError
from workers.remote.http import Answer


def to_inference_results(answer: Answer) -> str:
    """Return the predict response body (JSON text) for a remote answer."""
    if not 200 <= answer.status <= 300:
        if answer.body.strip():
            raise RemoteModelError(
                f"Error from remote service: {answer.body}", status=answer.status
            )
        raise RemoteModelError(
            f"Remote service returned error status {answer.status} with empty body",
            status=answer.status,
        )
    if not answer.body.strip():
        raise RemoteModelError("Remote service returned empty response body", status=502)
    tensor = {"name": "response", "dataAsMap": _data_as_map(answer.body)}
    result = {"inference_results": [{"output": [tensor], "status_code": answer.status}]}
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def _data_as_map(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {"response": body}
    return data if isinstance(data, dict) else {"response": data}
