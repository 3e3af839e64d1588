"""The internal users file, password hashes, the reloading directory, roles and credentials."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import pytest

from api.route_actions import action_for
from common.security.authenticator import parse_basic
from common.security.directory import UserDirectory
from common.security.exposure import check_exposure
from common.security.passwords import PasswordError, hash_password, verify_password
from common.security.roles import denial, permits
from common.security.user import User
from common.security.users_file import (
    UserEntry,
    UsersFileError,
    add_user,
    read_users,
    remove_user,
)
from common.security.verified import VerifiedCredentials
from common.settings import Settings, SettingsError
from tools.cli import PROJECT_ROOT, command

FAST = 4  # bcrypt rounds for tests: the format is the same, the check is quick


def entry(password: str = "secret", **kw: object) -> UserEntry:
    return UserEntry(hash=hash_password(password, rounds=FAST), **kw)  # type: ignore[arg-type]


def test_users_round_trip_through_a_file_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "internal_users.yml"
    alice = entry(backend_roles=("IT", "HR"), roles=("ml_full_access",))
    assert add_user(path, "alice", alice) is False
    assert add_user(path, "bob", entry("other")) is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "secret" not in text and "opendistro_security_roles" in text and "_meta" in text
    users = read_users(path)
    assert users["alice"] == alice
    assert users["alice"].user("alice") == User(
        name="alice", backend_roles=("IT", "HR"), roles=("ml_full_access",)
    )
    assert add_user(path, "alice", entry("new")) is True
    assert remove_user(path, "bob") is True and remove_user(path, "bob") is False
    assert list(read_users(path)) == ["alice"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_missing_or_empty_file_holds_no_users(tmp_path: Path) -> None:
    assert read_users(tmp_path / "none.yml") == {}
    (tmp_path / "empty.yml").write_text("")
    assert read_users(tmp_path / "empty.yml") == {}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("alice:\n  password: secret\n", "plain-text password"),
        ("alice:\n  hash: secret\n", "bcrypt hash"),
        ("alice: [1, 2]\n", "must be a mapping"),
        ("alice:\n  hash: '{h}'\n  backend_role: [IT]\n", "unknown field(s): backend_role"),
        ("alice:\n  hash: '{h}'\n  backend_roles: IT\n", "backend_roles must be a list"),
        ("'al ice':\n  hash: '{h}'\n", "cannot be a user name"),
        ("- alice\n", "must map user names"),
        ("alice: {hash: [\n", "not valid YAML"),
    ],
)
def test_a_bad_users_file_is_refused_naming_the_problem(
    tmp_path: Path, body: str, complaint: str
) -> None:
    path = tmp_path / "users.yml"
    path.write_text(body.replace("{h}", entry().hash))
    with pytest.raises(UsersFileError) as caught:
        read_users(path)
    assert complaint in str(caught.value)


def test_the_security_plugins_own_file_shape_is_read(tmp_path: Path) -> None:
    hashed = entry().hash.replace("$2b$", "$2y$", 1)  # the plugin's hash tool writes $2y$
    path = tmp_path / "internal_users.yml"
    path.write_text(
        '_meta:\n  type: "internalusers"\n  config_version: 2\n'
        f'admin:\n  hash: "{hashed}"\n  reserved: true\n  backend_roles:\n  - "admin"\n'
        '  opendistro_security_roles: ["all_access"]\n  description: "Demo admin user"\n'
    )
    admin = read_users(path)["admin"]
    assert admin.roles == ("all_access",) and admin.backend_roles == ("admin",)
    assert verify_password("secret", admin.hash) and not verify_password("Secret", admin.hash)


def test_passwords_are_hashed_and_checked_and_bad_ones_refused() -> None:
    hashed = hash_password("pa:ss wörd", rounds=FAST)
    assert hashed.startswith("$2b$04$") and verify_password("pa:ss wörd", hashed)
    assert not verify_password("pa:ss word", hashed)
    assert not verify_password("x" * 73, hashed)
    assert not verify_password("secret", None)
    assert not verify_password("secret", "$2b$12$not-a-real-hash")
    with pytest.raises(PasswordError):
        hash_password("")
    with pytest.raises(PasswordError):
        hash_password("é" * 37)  # 74 bytes


def test_the_directory_sees_a_changed_file_after_its_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "users.yml"
    directory = UserDirectory(path, check_interval_s=3600)
    assert directory.get("alice") is None and len(directory) == 0
    add_user(path, "alice", entry())
    assert directory.refresh() == 0 and directory.get("alice") is None  # not looked yet
    first = directory.refresh(force=True)
    assert first == 1 and directory.get("alice") is not None
    assert directory.refresh(force=True) == first  # unchanged file: same generation
    path.write_text("alice: {hash: [\n")  # a broken edit keeps the last good users
    assert directory.refresh(force=True) == first and directory.get("alice") is not None
    path.unlink()  # no file: no users
    assert directory.refresh(force=True) == first + 1 and directory.get("alice") is None


def test_verified_credentials_hold_per_generation_and_never_the_password() -> None:
    verified = VerifiedCredentials(ttl_s=60)
    alice = User(name="alice")
    header = basic("alice:secret")
    key = verified.fingerprint(header)
    assert b"secret" not in key and header.encode() not in key
    assert key == verified.fingerprint(header) != verified.fingerprint(basic("alice:Secret"))
    assert VerifiedCredentials().fingerprint(header) != key  # a key per process
    verified.put(key, alice, generation=3)
    assert verified.get(key, 3) == alice
    assert verified.get(key, 4) is None
    expired = VerifiedCredentials(ttl_s=-1)
    expired.put(key, alice, generation=3)
    assert expired.get(key, 3) is None


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_credentials_are_parsed_and_malformed_ones_are_none() -> None:
    assert parse_basic(basic("alice:pa:ss")) == ("alice", "pa:ss")
    assert parse_basic("basic " + basic("bob:")[6:]) == ("bob", "")
    for bad in (None, "", "Bearer abc", "Basic !!!", basic("nocolon"), basic(":pw")):
        assert parse_basic(bad) is None
    assert parse_basic("Basic " + base64.b64encode(b"\xff:x").decode()) is None


@pytest.mark.parametrize(
    ("roles", "endpoint", "path", "allowed"),
    [
        (("all_access",), "cluster.put_settings", "/_cluster/settings", True),
        (("ml_full_access",), "cluster.put_settings", "/_cluster/settings", False),
        (("ml_full_access",), "cluster.get_settings", "/_cluster/settings", True),
        (("ml_full_access",), "connectors.create", "/_plugins/_ml/connectors/_create", True),
        (("ml_full_access",), "controllers.create", "/_plugins/_ml/controllers/m", True),
        (("ml_full_access",), "future.thing", "/_other", False),
        (("ml_read_access",), "models.get", "/_plugins/_ml/models/m", True),
        (("ml_readonly_access",), "models.search", "/_plugins/_ml/models/_search", True),
        (("ml_readonly_access",), "predict.predict", "/_plugins/_ml/models/m/_predict", False),
        (("ml_readonly_access",), "models.delete", "/_plugins/_ml/models/m", False),
        (("ml_readonly_access",), "controllers.get", "/_plugins/_ml/controllers/m", True),
        (("ml_readonly_access",), "root.info", "/", False),
        ((), "models.get", "/_plugins/_ml/models/m", False),
        (("own_index", "kibana_user"), "models.get", "/_plugins/_ml/models/m", False),
    ],
)
def test_roles_permit_the_actions_of_the_security_plugins_roles_yml(
    roles: tuple[str, ...], endpoint: str, path: str, allowed: bool
) -> None:
    action = action_for(endpoint, path)
    assert action is not None and permits(roles, action) is allowed


def test_authinfo_and_unmatched_routes_need_no_permission_and_denials_name_the_user() -> None:
    assert action_for("security.authinfo", "/_plugins/_security/authinfo") is None
    assert action_for(None, "/nowhere") is None
    user = User(name="bob", backend_roles=("IT", "HR"))
    assert denial("cluster:admin/opensearch/ml/predict", user) == (
        "no permissions for [cluster:admin/opensearch/ml/predict] and "
        "User [name=bob, backend_roles=[IT, HR], requestedTenant=null]"
    )


def run_user(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env["MODELGATE_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [*command("user"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )


def test_user_add_hashes_a_password_read_from_stdin_into_the_data_dir(tmp_path: Path) -> None:
    added = run_user(
        tmp_path, "add", "carol", "--role", "ml_full_access", "--backend-role", "IT",
        "--backend-role", "HR", stdin="s3cret pass\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    path = tmp_path / "internal_users.yml"
    assert f"added user carol in {path}" in added.stdout
    carol = read_users(path)["carol"]
    assert carol.backend_roles == ("IT", "HR") and carol.roles == ("ml_full_access",)
    assert verify_password("s3cret pass", carol.hash)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = run_user(tmp_path, "list")
    assert "carol\troles=ml_full_access\tbackend_roles=IT,HR" in listed.stdout
    assert "$2b$" not in listed.stdout
    empty = run_user(tmp_path, "add", "dave", stdin="\n")
    assert empty.returncode == 1 and "the password is empty" in empty.stderr
    unknown = run_user(tmp_path, "add", "erin", "--role", "superuser", stdin="pw\n")
    assert unknown.returncode == 0 and "role 'superuser' grants nothing" in unknown.stderr
    assert run_user(tmp_path, "remove", "carol").returncode == 0
    gone = run_user(tmp_path, "remove", "carol")
    assert gone.returncode == 1 and "no user carol" in gone.stderr


@pytest.mark.parametrize(
    ("host", "security", "on"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("gateway.internal", None, True),
        ("127.0.0.1", True, True),
        ("0.0.0.0", False, False),
    ],
)
def test_security_is_on_by_default_beyond_loopback(
    host: str, security: bool | None, on: bool
) -> None:
    assert Settings(host=host, security=security).security_enabled is on


def test_security_off_on_a_public_address_needs_the_loud_override(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="refusing to serve the API on 0.0.0.0"):
        check_exposure(Settings(host="0.0.0.0", security=False))
    check_exposure(Settings(host="0.0.0.0", security=False, insecure_public_ok=True))
    check_exposure(Settings(host="127.0.0.1", security=False))
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="MODELGATE_TLS_KEY_FILE is not set"):
        check_exposure(Settings(tls_cert_file=cert))
    with pytest.raises(SettingsError, match="cannot be read"):
        check_exposure(Settings(tls_cert_file=cert, tls_key_file=tmp_path / "missing.pem"))
    env = {"MODELGATE_HOST": "0.0.0.0", "MODELGATE_SECURITY": "off"}
    env["MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND"] = "1"
    check_exposure(Settings.from_env(env))
