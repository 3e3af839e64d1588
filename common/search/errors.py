"""The errors a search request can raise, with OpenSearch's wire types."""

from __future__ import annotations

from common.errors import MLCommonsError


class QueryParsingError(MLCommonsError):
    """A search body OpenSearch's parser refuses: unknown query, bad clause shape."""

    status = 400
    error_type = "parsing_exception"


class QueryShardError(MLCommonsError):
    """A well-formed query that cannot run against the mapping (a bad value for a field)."""

    status = 400
    error_type = "query_shard_exception"
