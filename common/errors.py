"""The one exception tree; api/errors.py maps it to the OpenSearch error envelope.

MLCommonsError (500, exception)
 +-- IllegalArgumentError (400, illegal_argument_exception)
 +-- ParseError (400, parse_exception)
 +-- RequestValidationError (400, action_request_validation_exception)
 +-- StatusError (status given per raise, status_exception)
 |    +-- NotFoundError (404)
 |    +-- ConflictError (409)
 +-- RemoteModelError (status of the upstream answer, status_exception)
 |    +-- RemoteTransportError (500: connection refused, timeout, DNS)
 +-- NodeUnavailableError (400, illegal_argument_exception: no eligible live node)
 +-- GatewayTimeoutError (504, status_exception: no worker answered in time)
 +-- QueueUnavailableError (503, status_exception: a job could not be queued or was lost)
 +-- IllegalStateError (500, illegal_state_exception)
 +-- MLValidationError (500, m_l_validation_exception: ML Commons' plain RuntimeException)
 +-- MLResourceNotFoundError (500, m_l_resource_not_found_exception: likewise)
"""

from __future__ import annotations


class MLCommonsError(Exception):
    """Base of every error modelgate reports to a client."""

    status: int = 500
    error_type: str = "exception"

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class IllegalArgumentError(MLCommonsError):
    status = 400
    error_type = "illegal_argument_exception"


class ParseError(MLCommonsError):
    status = 400
    error_type = "parse_exception"


class RequestValidationError(MLCommonsError):
    status = 400
    error_type = "action_request_validation_exception"


class StatusError(MLCommonsError):
    error_type = "status_exception"


class NotFoundError(StatusError):
    status = 404


class ConflictError(StatusError):
    status = 409


class RemoteModelError(StatusError):
    """The remote model answered with a non-success status."""


class RemoteTransportError(RemoteModelError):
    """The remote model could not be reached or did not answer in time."""

    status = 500


class NodeUnavailableError(IllegalArgumentError):
    """No live worker node may run the request."""


class GatewayTimeoutError(StatusError):
    status = 504


class QueueUnavailableError(StatusError):
    """The broker or the predict queue server refused a job, or lost it with its memory."""

    status = 503


class IllegalStateError(MLCommonsError):
    """Java's IllegalStateException, which OpenSearch reports as a 500."""

    error_type = "illegal_state_exception"


class MLValidationError(MLCommonsError):
    """ML Commons' MLValidationException: not an OpenSearch exception, so a 500."""

    error_type = "m_l_validation_exception"


class MLResourceNotFoundError(MLCommonsError):
    """ML Commons' MLResourceNotFoundException: not an OpenSearch exception, so a 500."""

    error_type = "m_l_resource_not_found_exception"
