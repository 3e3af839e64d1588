"""Connector rules shared by create-connector and inline connectors on model register."""

from __future__ import annotations

from typing import Any

from msgspec import structs

from common import process_functions, request_rules
from common.crypto import CredentialCipher
from common.endpoints import require_trusted
from common.errors import IllegalArgumentError
from common.records import (
    ActionType,
    ClientConfig,
    Connector,
    ConnectorAction,
    ConnectorProtocol,
    Owner,
    to_wire,
)
from common.templating import check_header_templates, stringify_parameters, substitute

PROTOCOLS = ("aws_sigv4", "http")
ACCESS_FIELDS_MESSAGE = (
    "You cannot specify connector access control parameters because the Security plugin "
    "or connector access control is disabled on your cluster."
)


def check_required(body: dict[str, Any], *, standalone: bool) -> None:
    """Apply ML Commons' required-field checks, in its order and with its messages."""
    if standalone:
        if body.get("name") is None:
            raise IllegalArgumentError("Connector name is null")
        if body.get("version") is None:
            raise IllegalArgumentError("Connector version is null")
    if body.get("protocol") is None:
        raise IllegalArgumentError(
            "Connector protocol is null" if standalone else "connector protocol is null"
        )
    if standalone and not body.get("credential"):
        raise IllegalArgumentError("Connector credential is null or empty list")
    if body["protocol"] not in PROTOCOLS:
        raise IllegalArgumentError(
            "Unsupported connector protocol. Please use one of [aws_sigv4, http]"
        )


def check_aws(body: dict[str, Any]) -> None:
    """Require SigV4 keys, service name and region for aws_sigv4 connectors."""
    if body["protocol"] != "aws_sigv4":
        return
    credential = body.get("credential") or {}
    parameters = body.get("parameters") or {}
    if "access_key" not in credential or "secret_key" not in credential:
        raise IllegalArgumentError("Missing credential")
    if "service_name" not in parameters and "service_name" not in credential:
        raise IllegalArgumentError("Missing service name")
    if "region" not in parameters and "region" not in credential:
        raise IllegalArgumentError("Missing region")


def check_actions(body: dict[str, Any], trusted: tuple[str, ...]) -> None:
    """Check header rules and that every action URL (connector parameters filled) is trusted."""
    actions = body.get("actions")
    if actions is None:
        raise IllegalArgumentError("No actions configured for this connector")
    process_functions.check_actions(actions)
    parameters = stringify_parameters(body.get("parameters") or {})
    codec = request_rules.charset_codec(parameters.get("charset"))
    for action in actions:
        headers = action.get("headers") or {}
        check_header_templates(headers)
        request_rules.check_fixed_headers(headers)
        url = substitute(action["url"], parameters)
        request_rules.check_url_text(url)
        require_trusted(url, trusted)
        _check_body_charset(action.get("request_body"), codec)


def _check_body_charset(template: str | None, codec: str) -> None:
    # What the template itself writes must fit the charset; filled values are checked at
    # predict, when they are known.
    if template is not None:
        request_rules.encode_body(template, codec)


def has_access_fields(body: dict[str, Any]) -> bool:
    """True when a body sets access-control fields (ML Commons counts even add_all=false)."""
    return bool(
        body.get("access_mode") or "add_all_backend_roles" in body or body.get("backend_roles")
    )


def check_access_fields(body: dict[str, Any]) -> None:
    """Refuse access-control fields: modelgate runs without the Security plugin."""
    if has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)


def build_document(body: dict[str, Any], cipher: CredentialCipher, stamp: int) -> Connector:
    """Return the stored connector: strings for parameters, credentials sealed, actions shaped."""
    config = body.get("client_config")
    return Connector(
        name=body.get("name"),
        version=None if body.get("version") is None else _text(body["version"]),
        description=body.get("description"),
        protocol=ConnectorProtocol(body["protocol"]),
        parameters=stringify_parameters(body.get("parameters") or {}),
        credential=cipher.encrypt({k: _text(v) for k, v in (body.get("credential") or {}).items()}),
        actions=[_action(a) for a in body.get("actions") or []],
        created_time=stamp,
        last_updated_time=stamp,
        client_config=None if config is None else ClientConfig(**config),
    )


def _text(value: Any) -> str:
    """A scalar as ML Commons' parser.text() gives it: true, not Python's True."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _action(action: dict[str, Any]) -> ConnectorAction:
    return ConnectorAction(
        action_type=ActionType(str(action["action_type"]).upper()),
        method=action["method"],
        url=action["url"],
        headers=action.get("headers"),
        request_body=action.get("request_body"),
        pre_process_function=action.get("pre_process_function"),
        post_process_function=action.get("post_process_function"),
    )


def with_access(
    connector: Connector, owner: Owner, access: str, backend_roles: list[str] | None
) -> Connector:
    """Return the connector as created under access control: its owner, mode and roles."""
    return structs.replace(connector, owner=owner, access=access, backend_roles=backend_roles)


def public_view(connector: Connector) -> dict[str, Any]:
    """Return a connector's wire JSON as GET shows it: never the credential."""
    wire = to_wire(connector)
    wire.pop("credential", None)
    return wire


def merge_update(
    current: Connector, body: dict[str, Any], cipher: CredentialCipher, stamp: int
) -> Connector:
    """Apply a PUT body to a stored connector as ML Commons' Connector.update does.

    Given fields replace, `parameters` are merged into the stored ones, and a `credential` is
    sealed the way create seals it; its keys join the stored ones, because ML Commons writes
    the connector as a partial document, where keys not sent survive.
    """
    protocol = body.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise IllegalArgumentError(
            "Unsupported connector protocol. Please use one of [aws_sigv4, http]"
        )
    changes: dict[str, Any] = {"last_updated_time": stamp}
    for field in ("name", "description"):
        if body.get(field) is not None:
            changes[field] = body[field]
    if body.get("version") is not None:
        changes["version"] = _text(body["version"])
    if protocol is not None:
        changes["protocol"] = ConnectorProtocol(protocol)
    if body.get("parameters"):
        changes["parameters"] = {
            **current.parameters,
            **stringify_parameters(body["parameters"]),
        }
    if body.get("credential"):
        sealed = cipher.encrypt({k: _text(v) for k, v in body["credential"].items()})
        changes["credential"] = {**current.credential, **sealed}
    if body.get("actions") is not None:
        changes["actions"] = [_action(a) for a in body["actions"]]
    if body.get("client_config") is not None:
        changes["client_config"] = ClientConfig(**body["client_config"])
    changes.update(_access_changes(body))
    return structs.replace(current, **changes)


def _access_changes(body: dict[str, Any]) -> dict[str, Any]:
    """backend_roles and access_mode replace the stored ones (Connector.update); reached only
    under access control, the fields being refused otherwise."""
    changes: dict[str, Any] = {}
    if body.get("backend_roles") is not None:
        changes["backend_roles"] = [str(role) for role in body["backend_roles"]]
    mode = str(body.get("access_mode") or "").lower()
    if mode in ("public", "private", "restricted"):
        changes["access"] = mode
    return changes


def check_merged(connector: Connector, trusted: tuple[str, ...]) -> None:
    """Check an updated connector with the create rules: SigV4 keys, headers, trusted URLs."""
    wire = to_wire(connector)
    check_aws(wire)
    check_actions(wire, trusted)
