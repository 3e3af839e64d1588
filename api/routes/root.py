"""GET /: answer like an OpenSearch node so clients that probe the root work."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.services import services

blueprint = Blueprint("root", __name__)

VERSION = "2.19.0"


@blueprint.get("/")
def info() -> dict[str, Any]:
    """Describe the cluster the way OpenSearch's root endpoint does."""
    settings = services().settings
    return {
        "name": "modelgate-api",
        "cluster_name": settings.cluster_name,
        "cluster_uuid": "modelgate",
        "version": {
            "distribution": "opensearch",
            "number": VERSION,
            "build_type": "modelgate",
            "lucene_version": "9.12.1",
            "minimum_wire_compatibility_version": "7.10.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }
