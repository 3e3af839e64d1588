"""Access-control rules (common/security/): ML Commons' decisions and messages, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from common.controllers import merge, parse_limits, with_model_id
from common.errors import IllegalArgumentError
from common.records import (
    Connector,
    ConnectorProtocol,
    Controller,
    ModelGroup,
    Owner,
    UserRateLimit,
    to_wire,
)
from common.security import connector_access, model_access
from common.security.access import AccessRequest, access_mode, owner_of, visible_to
from common.security.user import User

ADMIN = User(name="admin", backend_roles=("admin",), roles=("all_access",))
USER1 = User(name="user1", backend_roles=("IT", "HR"), roles=("ml_full_access",))
USER2 = User(name="user2", backend_roles=("IT",), roles=("ml_full_access",))
USER3 = User(name="user3", backend_roles=("Finance",), roles=("ml_full_access",))
USER4 = User(name="user4", backend_roles=(), roles=("ml_full_access",))


def request(**body: Any) -> AccessRequest:
    return AccessRequest.of(body)


def connector(owner: User | None, access: str | None, roles: list[str] | None = None) -> Connector:
    return Connector(
        name="c",
        protocol=ConnectorProtocol.HTTP,
        parameters={},
        credential={},
        actions=[],
        owner=None if owner is None else owner_of(owner),
        access=access,
        backend_roles=roles,
    )


def group(owner: User | None, access: str, roles: list[str] | None = None) -> ModelGroup:
    return ModelGroup(
        name="g",
        latest_version=0,
        access=access,
        owner=None if owner is None else owner_of(owner),
        backend_roles=roles,
        created_time=1,
        last_updated_time=1,
    )


def test_access_mode_is_a_lower_cased_lookup_and_unknown_is_none():
    assert access_mode("PUBLIC") == "public"
    assert access_mode("Restricted") == "restricted"
    assert access_mode("shared") is None
    assert access_mode(None) is None


def test_owner_is_serialised_as_ml_commons_serialises_a_user():
    assert to_wire(owner_of(USER1)) == {
        "name": "user1",
        "backend_roles": ["IT", "HR"],
        "roles": ["ml_full_access"],
        "custom_attribute_names": [],
        "user_requested_tenant": "__user__",
    }


# Connectors: create


@pytest.mark.parametrize(
    ("user", "body", "message"),
    [
        (ADMIN, {"add_all_backend_roles": True}, "Admin can't add all backend roles"),
        (
            USER1,
            {"access_mode": "public", "backend_roles": ["IT"]},
            "You can specify backend roles only for a connector with the restricted access mode.",
        ),
        (
            USER1,
            {"access_mode": "private", "add_all_backend_roles": True},
            "You can specify backend roles only for a connector with the restricted access mode.",
        ),
        (
            USER1,
            {"backend_roles": ["IT"], "add_all_backend_roles": True},
            "You can't specify backend roles and add all backend roles to true at same time.",
        ),
        (
            USER4,
            {"add_all_backend_roles": True},
            "You must have at least one backend role to create a connector.",
        ),
        (
            USER1,
            {"access_mode": "restricted"},
            "You must specify at least one backend role or make the connector public/private "
            "for registering it.",
        ),
        (USER2, {"backend_roles": ["HR"]}, "You don't have the backend roles specified."),
    ],
)
def test_connector_create_refusals(user: User, body: dict[str, Any], message: str):
    with pytest.raises(IllegalArgumentError) as raised:
        connector_access.on_create(request(**body), user)
    assert raised.value.reason == message
    assert raised.value.status == 400


def test_connector_create_defaults_private_without_roles_and_restricted_with_them():
    private = connector_access.on_create(request(), USER1)
    assert (private.access, private.backend_roles, private.owner.name) == ("private", None, "user1")
    restricted = connector_access.on_create(request(backend_roles=["IT"]), USER1)
    assert (restricted.access, restricted.backend_roles) == ("restricted", ["IT"])
    everything = connector_access.on_create(request(add_all_backend_roles=True), USER1)
    assert (everything.access, everything.backend_roles) == ("restricted", ["IT", "HR"])
    # An admin may name roles they do not hold.
    assert connector_access.on_create(request(backend_roles=["Finance"]), ADMIN).access == (
        "restricted"
    )


def test_connector_permission_matrix():
    private1 = connector(USER1, "private")
    restricted_it = connector(USER1, "restricted", ["IT"])
    public = connector(USER3, "public")
    legacy = connector(None, None)
    on = True
    assert connector_access.may_use(USER1, private1, on)
    assert not connector_access.may_use(USER2, private1, on)
    assert connector_access.may_use(ADMIN, private1, on)
    assert connector_access.may_use(USER2, restricted_it, on)
    assert not connector_access.may_use(USER3, restricted_it, on)
    assert connector_access.may_use(USER4, public, on)
    assert connector_access.may_use(USER4, legacy, on)
    # Setting off, or no security: everything passes.
    assert connector_access.may_use(USER2, private1, False)
    assert connector_access.may_use(None, private1, on)


def test_connector_search_filter_only_for_non_admins_with_the_setting_on():
    assert connector_access.visible(None, True) is None
    assert connector_access.visible(ADMIN, True) is None
    assert connector_access.visible(USER1, False) is None
    visible = connector_access.visible(USER2, True)
    assert visible is not None
    assert visible(to_wire(connector(USER3, "public")))
    assert visible(to_wire(connector(USER1, "restricted", ["IT"])))
    assert not visible(to_wire(connector(USER1, "private")))
    assert visible(to_wire(connector(USER2, "private")))
    # As ML Commons' query: a connector without access field matches no clause.
    assert not visible(to_wire(connector(None, None)))


# Model groups: register


@pytest.mark.parametrize(
    ("user", "body", "message"),
    [
        (
            USER1,
            {"backend_roles": ["IT"], "add_all_backend_roles": True},
            "You cannot specify backend roles and add all backend roles at the same time.",
        ),
        (
            USER1,
            {"access_mode": "public", "backend_roles": ["IT"]},
            "You can specify backend roles only for a model group with the restricted access mode.",
        ),
        (
            ADMIN,
            {"access_mode": "restricted", "add_all_backend_roles": True},
            "Admin users cannot add all backend roles to a model group.",
        ),
        (
            USER4,
            {"access_mode": "restricted", "add_all_backend_roles": True},
            "You must have at least one backend role to register a restricted model group.",
        ),
        (
            USER1,
            {"access_mode": "restricted"},
            "You must specify one or more backend roles or add all backend roles to register a "
            "restricted model group.",
        ),
        (
            USER1,
            {"access_mode": "restricted", "backend_roles": ["IT"], "add_all_backend_roles": True},
            "You cannot specify backend roles and add all backend roles at the same time.",
        ),
        (USER2, {"backend_roles": ["HR"]}, "You don't have the backend roles specified."),
    ],
)
def test_group_register_refusals(user: User, body: dict[str, Any], message: str):
    with pytest.raises(IllegalArgumentError) as raised:
        model_access.on_register(request(**body), user)
    assert raised.value.reason == message


def test_group_register_defaults():
    assert model_access.on_register(request(), USER1).access == "private"
    added = model_access.on_register(request(add_all_backend_roles=True), USER1)
    assert (added.access, added.backend_roles) == ("restricted", ["IT", "HR"])
    public = model_access.on_register(request(access_mode="PUBLIC"), USER4)
    assert (public.access, public.backend_roles, public.owner.name) == ("public", None, "user4")


def test_group_permission_matrix():
    on = True
    assert model_access.may_access(USER1, group(USER1, "private"), on)
    assert not model_access.may_access(USER2, group(USER1, "private"), on)
    assert model_access.may_access(USER2, group(USER1, "restricted", ["IT"]), on)
    assert not model_access.may_access(USER3, group(USER1, "restricted", ["IT"]), on)
    assert model_access.may_access(USER3, group(USER1, "public"), on)
    assert model_access.may_access(USER3, group(None, "public"), on)
    assert model_access.may_access(ADMIN, group(USER1, "private"), on)
    assert model_access.may_access(USER2, group(USER1, "private"), False)
    assert model_access.may_access(None, group(USER1, "private"), on)


# Model groups: update


def _update_refusal(user: User, stored: ModelGroup, **body: Any) -> str:
    with pytest.raises(IllegalArgumentError) as raised:
        model_access.check_update(request(**body), model_access.changes_access(body), user, stored)
    return raised.value.reason


def test_group_update_refusals_in_ml_commons_order():
    restricted = group(USER1, "restricted", ["IT", "HR"])
    assert (
        _update_refusal(USER2, restricted, access_mode="restricted", backend_roles=["IT"])
        == "Only owner or admin can update access control data."
    )
    assert (
        _update_refusal(USER3, restricted, name="x")
        == "You don't have permission to update this model group."
    )
    assert (
        _update_refusal(USER1, restricted, access_mode="restricted", backend_roles=["Finance"])
        == "You don't have the backend roles specified."
    )
    assert (
        _update_refusal(USER1, restricted, access_mode="public", backend_roles=["HR"])
        == "You can specify backend roles only for a model group with the restricted access mode."
    )
    lost = group(USER3, "restricted", ["IT"])  # user3 owns it but no longer holds IT
    assert _update_refusal(USER3, lost, name="x") == (
        "You don't have the specified backend role to update this model group. For more "
        "information, contact your administrator."
    )
    assert (
        _update_refusal(USER4, group(USER4, "public"), add_all_backend_roles=True)
        == "You don't have any backend roles."
    )
    assert (
        _update_refusal(USER1, restricted, add_all_backend_roles=False)
        == "You have to specify backend roles when add all backend roles is set to false."
    )
    assert (
        _update_refusal(ADMIN, restricted, add_all_backend_roles=True)
        == "Admin users cannot add all backend roles to a model group."
    )


def test_group_update_allowed_cases():
    restricted = group(USER1, "restricted", ["IT", "HR"])
    # A user sharing a role edits name and description; the owner and an admin change access.
    model_access.check_update(request(name="n"), False, USER2, restricted)
    body = {"access_mode": "restricted", "backend_roles": ["IT"]}
    model_access.check_update(request(**body), True, USER1, restricted)
    body = {"access_mode": "restricted", "backend_roles": ["Finance"]}
    model_access.check_update(request(**body), True, ADMIN, restricted)


def test_group_update_writes_access_as_ml_commons():
    assert model_access.updated_access(request(access_mode="public"), USER1) == {
        "access": "public",
        "backend_roles": None,
    }
    assert model_access.updated_access(request(backend_roles=["IT"]), USER1) == {
        "access": "restricted",
        "backend_roles": ["IT"],
    }
    assert model_access.updated_access(request(add_all_backend_roles=True), USER1) == {
        "access": "restricted",
        "backend_roles": ["IT", "HR"],
    }
    assert model_access.updated_access(request(name="x"), USER1) == {}


def test_search_filter_of_the_spec_example_user1_sees_7_of_11_groups():
    groups = [
        group(USER1, "public"),
        group(USER1, "private"),
        group(USER1, "restricted", ["IT"]),
        group(USER2, "public"),
        group(USER2, "private"),
        group(USER2, "restricted", ["IT"]),
        group(USER3, "public"),
        group(USER3, "private"),
        group(USER3, "restricted", ["Finance"]),
        group(ADMIN, "restricted", ["HR"]),
        group(ADMIN, "private"),
    ]
    visible = visible_to(USER1)
    assert sum(visible(to_wire(g)) for g in groups) == 7
    assert model_access.visible(ADMIN, True) is None


# Controllers


def test_controller_limits_parse_merge_and_messages():
    limits = parse_limits({"user1": {"limit": 4, "unit": "minutes"}, "user2": {}})
    assert limits == {"user1": UserRateLimit(limit="4", unit="MINUTES")}
    held = Controller(
        model_id="m", user_rate_limiter={"user1": UserRateLimit(limit="4", unit="MINUTES")}
    )
    merged = merge(held, {"user1": UserRateLimit(limit="2"), "user3": UserRateLimit(unit="HOURS")})
    assert merged.user_rate_limiter["user1"] == UserRateLimit(limit="2", unit="MINUTES")
    assert merged.user_rate_limiter["user3"].limiter is None  # no limit yet: not enforced
    limiter = merged.user_rate_limiter["user1"].limiter
    assert limiter is not None and limiter.per_second == pytest.approx(2 / 60)
    assert with_model_id("No.", "m1", False) == "No. Model ID: m1"
    assert with_model_id("No.", "m1", True) == "No."


def test_owner_defaults_survive_a_round_trip():
    stored = group(USER1, "private")
    assert isinstance(stored.owner, Owner)
    assert to_wire(stored)["owner"]["custom_attribute_names"] == []
