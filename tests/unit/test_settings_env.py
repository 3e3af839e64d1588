"""Settings.from_env: every MODELGATE_* variable is checked, and refused in one clear line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common.settings import (
    VARIABLES,
    Reader,
    Settings,
    SettingsError,
    mask_url,
    unknown_variables,
    variables_read_by,
)

# Values each variable must refuse; DATA_DIR and CLUSTER_NAME take any text.
BAD: dict[str, list[str]] = {
    "MODELGATE_REDIS_URL": [
        "http://127.0.0.1:6379/0",
        "127.0.0.1:6379",
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:port/0",
        "redis://127.0.0.1:6379/first",
        "unix://",
        "redis://127.0.0.1:6379/0?socket_timeout=soon",
        "redis://127.0.0.1:6379?db=first",
        "unix:///tmp/redis.sock?max_connections=many",
        "valkey://127.0.0.1:6379/0",
    ],
    "MODELGATE_QUEUE_REDIS_URL": ["localhost", "memcached://127.0.0.1:11211"],
    "MODELGATE_BROKER_URL": [
        "amqp://rabbit:notaport/mg",
        "amqp:///mg",
        "kafka://127.0.0.1:9092",
        "127.0.0.1:5672",
    ],
    "MODELGATE_BROKER_QUEUE_TYPE": ["stream", "QUORUM", "lazy"],
    "MODELGATE_HOST": ["http://0.0.0.0", "127.0.0.1:9200", "my host", "-bad"],
    "MODELGATE_PORT": ["abc", "0", "65536", "-1", "92.5"],
    "MODELGATE_KEY_PREFIX": ["my prefix", "mg\n"],
    "MODELGATE_PREDICT_TIMEOUT": ["soon", "0", "-5", "nan", "inf"],
    "MODELGATE_HEARTBEAT_INTERVAL": ["0", "-1", "two"],
    "MODELGATE_VISIBILITY_TIMEOUT": ["0", "1.5", "5m"],
    "MODELGATE_RESTORE_INTERVAL": ["0", "ten"],
    "MODELGATE_WORKER_CONCURRENCY": ["0", "many", "-3"],
    "MODELGATE_API_WORKERS": ["0", "two"],
    "MODELGATE_API_THREADS": ["0", "x"],
    "MODELGATE_NODE_ROLE": ["observer", "ML", "master"],
    "MODELGATE_NODE_NAME": ["ml 1", "ml-1@host", "-ml"],
    "MODELGATE_LOG_LEVEL": ["loud", "warn", "10"],
    "MODELGATE_METRICS": ["maybe", "2", "enabled"],
    "MODELGATE_METRICS_PORT": ["-1", "65536", "auto"],
    "MODELGATE_METRICS_HOST": ["http://0.0.0.0", "0.0.0.0:9300"],
    "MODELGATE_SECURITY": ["maybe", "2", "enabled"],
    "MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND": ["sure", "yes please"],
    "MODELGATE_AUTH_ALLOWED_TRIES": ["0", "ten"],
    "MODELGATE_AUTH_TIME_WINDOW": ["0", "1h"],
    "MODELGATE_AUTH_BLOCK_SECONDS": ["-1", "1.5"],
}
ANY_TEXT = {"MODELGATE_DATA_DIR", "MODELGATE_CLUSTER_NAME"}
# Any text too: the keys are checked when a process opens them (common/keyring.py), in a
# message that never repeats the value.
ANY_TEXT |= {"MODELGATE_MASTER_KEY", "MODELGATE_MASTER_KEY_FILE"}
ANY_TEXT |= {"MODELGATE_USERS_FILE", "MODELGATE_TLS_CERT_FILE", "MODELGATE_TLS_KEY_FILE"}

GOOD: list[tuple[str, str, str, object]] = [
    ("MODELGATE_REDIS_URL", "redis://127.0.0.1:6379/15", "redis_url", "redis://127.0.0.1:6379/15"),
    ("MODELGATE_REDIS_URL", "rediss://:pw@cache:6380", "redis_url", "rediss://:pw@cache:6380"),
    (
        "MODELGATE_REDIS_URL",
        "unix:///run/redis.sock?db=2",
        "redis_url",
        "unix:///run/redis.sock?db=2",
    ),
    ("MODELGATE_QUEUE_REDIS_URL", "redis://[::1]:6379/", "queue_redis_url", "redis://[::1]:6379/"),
    (
        "MODELGATE_BROKER_URL",
        "amqp://mg:pw@rabbit:5672/prod",
        "broker_url",
        "amqp://mg:pw@rabbit:5672/prod",
    ),
    ("MODELGATE_BROKER_URL", "redis://jobs:6379/1", "broker_url", "redis://jobs:6379/1"),
    ("MODELGATE_BROKER_QUEUE_TYPE", "classic", "broker_queue_type", "classic"),
    ("MODELGATE_DATA_DIR", "/var/lib/modelgate", "data_dir", Path("/var/lib/modelgate")),
    ("MODELGATE_MASTER_KEY_FILE", "/run/keys/mg.key", "master_key_file", Path("/run/keys/mg.key")),
    ("MODELGATE_MASTER_KEY", "a2V5,b2xk", "master_key", "a2V5,b2xk"),
    ("MODELGATE_HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("MODELGATE_HOST", "::", "host", "::"),
    ("MODELGATE_HOST", "gateway.internal", "host", "gateway.internal"),
    ("MODELGATE_PORT", "65535", "port", 65535),
    ("MODELGATE_KEY_PREFIX", "prod:mg-2", "key_prefix", "prod:mg-2"),
    ("MODELGATE_CLUSTER_NAME", "my cluster", "cluster_name", "my cluster"),
    ("MODELGATE_PREDICT_TIMEOUT", "0.5", "predict_timeout_s", 0.5),
    ("MODELGATE_HEARTBEAT_INTERVAL", "3", "heartbeat_interval_s", 3.0),
    ("MODELGATE_VISIBILITY_TIMEOUT", "1", "visibility_timeout_s", 1),
    ("MODELGATE_RESTORE_INTERVAL", "30", "restore_interval_s", 30),
    ("MODELGATE_WORKER_CONCURRENCY", "1", "worker_concurrency", 1),
    ("MODELGATE_API_WORKERS", "4", "api_workers", 4),
    ("MODELGATE_API_THREADS", "8", "api_threads", 8),
    ("MODELGATE_NODE_ROLE", "data", "node_role", "data"),
    ("MODELGATE_NODE_NAME", "ml-1.eu", "node_name", "ml-1.eu"),
    ("MODELGATE_LOG_LEVEL", "info", "log_level", "INFO"),
    ("MODELGATE_METRICS", "OFF", "metrics", False),
    ("MODELGATE_METRICS", "True", "metrics", True),  # as to_env writes it
    ("MODELGATE_METRICS_PORT", "0", "metrics_port", 0),
    ("MODELGATE_METRICS_HOST", "0.0.0.0", "metrics_host", "0.0.0.0"),
    ("MODELGATE_SECURITY", "on", "security", True),
    ("MODELGATE_SECURITY", "False", "security", False),  # as to_env writes it
    ("MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND", "1", "insecure_public_ok", True),
    ("MODELGATE_USERS_FILE", "/etc/mg/users.yml", "users_file", Path("/etc/mg/users.yml")),
    ("MODELGATE_TLS_CERT_FILE", "/etc/mg/node.pem", "tls_cert_file", Path("/etc/mg/node.pem")),
    ("MODELGATE_TLS_KEY_FILE", "/etc/mg/key.pem", "tls_key_file", Path("/etc/mg/key.pem")),
    ("MODELGATE_AUTH_ALLOWED_TRIES", "5", "auth_allowed_tries", 5),
    ("MODELGATE_AUTH_TIME_WINDOW", "60", "auth_time_window_s", 60),
    ("MODELGATE_AUTH_BLOCK_SECONDS", "30", "auth_block_s", 30),
]

CASES = [(name, value) for name, values in BAD.items() for value in values]


def test_every_settings_field_has_one_variable_and_every_variable_is_tested() -> None:
    fields = [var.field for var in VARIABLES]
    assert sorted(fields) == sorted(f.name for f in dataclasses.fields(Settings))
    assert set(BAD) | ANY_TEXT == {var.name for var in VARIABLES}
    assert {name for name, *_ in GOOD} == {var.name for var in VARIABLES}


@pytest.mark.parametrize(("name", "value"), CASES)
def test_a_bad_value_is_refused_in_one_line_naming_variable_form_and_value(
    name: str, value: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} must be ")
    assert message.endswith(f", got {value!r}")
    assert "\n" not in message


@pytest.mark.parametrize(("name", "value", "field", "expected"), GOOD)
def test_a_good_value_is_read_into_its_field(
    name: str, value: str, field: str, expected: object
) -> None:
    assert getattr(Settings.from_env({name: value}), field) == expected


def test_unset_or_empty_variables_mean_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({var.name: "" for var in VARIABLES}) == Settings()
    assert Settings.from_env({"PORT": "abc", "REDIS_URL": "x"}) == Settings()


def test_to_env_round_trips_every_variable() -> None:
    env = {name: value for name, value, *_ in GOOD}
    settings = Settings.from_env(env)
    assert settings != Settings()
    assert Settings.from_env(settings.to_env()) == settings
    assert set(settings.to_env()) == {var.name for var in VARIABLES}


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:hunter2@127.0.0.1:6379/0",
        "redis://:hunter2@127.0.0.1:notaport/0",
        "admin:hunter2@127.0.0.1:6379",
        "redis://:hunt@er2@127.0.0.1:6379/x",
        "amqp://admin:hunter2@127.0.0.1:notaport/mg",
    ],
)
def test_a_refused_redis_url_never_shows_its_password(url: str) -> None:
    for name in ("MODELGATE_REDIS_URL", "MODELGATE_QUEUE_REDIS_URL", "MODELGATE_BROKER_URL"):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({name: url})
        assert "hunter2" not in str(caught.value)
        assert "er2" not in str(caught.value)
        assert "**@127.0.0.1" in str(caught.value)


def test_mask_url_keeps_what_is_not_credentials() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://**@h:6379/0"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"


def test_a_missing_redis_url_says_what_is_expected() -> None:
    with pytest.raises(
        SettingsError, match=r"^MODELGATE_REDIS_URL is not set: expected a redis://"
    ):
        Settings.from_env({}).require_redis_url()
    with pytest.raises(SettingsError, match="MODELGATE_REDIS_URL is not set"):
        Settings.from_env({}).require_queue_redis_url()


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        (
            "MODELGATE_PROT",
            "MODELGATE_PROT is not a modelgate setting; did you mean MODELGATE_PORT?",
        ),
        (
            "modelgate_port",
            "modelgate_port is not a modelgate setting; did you mean MODELGATE_PORT?",
        ),
        ("MODELGATE_REDIS", "did you mean MODELGATE_REDIS_URL?"),
        ("MODELGATE_LOGLEVEL", "did you mean MODELGATE_LOG_LEVEL?"),
        ("MODELGATE_FROBNICATE", "MODELGATE_FROBNICATE is not a modelgate setting (see "),
    ],
)
def test_an_unknown_variable_gets_a_warning_with_the_likeliest_setting(
    name: str, warning: str
) -> None:
    warnings = unknown_variables({name: "1", "MODELGATE_PORT": "9200", "PATH": "/bin"})
    assert list(warnings) == [name]
    assert warning in warnings[name]


def test_known_and_foreign_variables_get_no_warning() -> None:
    env = {var.name: "" for var in VARIABLES} | {"PATH": "/bin", "C_FORCE_ROOT": "1"}
    assert unknown_variables(env) == {}


def test_variables_read_by_selects_in_table_order() -> None:
    api = [var.name for var in variables_read_by([Reader.API])]
    assert "MODELGATE_PORT" in api
    assert "MODELGATE_WORKER_CONCURRENCY" not in api
    assert variables_read_by(Reader) == list(VARIABLES)
    assert variables_read_by([]) == []
