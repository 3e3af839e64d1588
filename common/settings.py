"""Process settings: read once from the environment into a frozen Settings object.

VARIABLES is the one table of MODELGATE_* variables: from_env reads exactly these, to_env
writes them, and `modelgate COMMAND --help` lists them. A value that does not fit raises
SettingsError naming the variable, the form it expects and what it got (credentials masked).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.records import NodeRole

PREFIX = "MODELGATE_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
NODE_ROLES = tuple(role.value for role in NodeRole)
REDIS_URL_EXAMPLE = "redis://127.0.0.1:6379/0"
USERS_FILE_NAME = "internal_users.yml"
MASTER_KEY_FILE_NAME = "master.key"
AMQP_URL_EXAMPLE = "amqp://guest:guest@127.0.0.1:5672/modelgate"
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
QUEUE_TYPES = ("quorum", "classic")  # RabbitMQ queue types for the Celery job queues

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")
_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.:-]+")
# The node name is also the Celery hostname's first half (NAME@HOST): no '@', no spaces.
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class SettingsError(ValueError):
    """An environment variable is missing or holds a value that cannot be used."""


class Reader(StrEnum):
    """A kind of process that reads a variable; each sub-command lists what its processes read."""

    API = "api"
    NODE = "worker"
    STACK = "up"
    STATUS = "status"
    USERS = "user"


@dataclass(frozen=True, slots=True)
class Form:
    """What a variable's text must look like: its parser and the words an error uses for it."""

    parse: Callable[[str], Any]  # raises ValueError for text not of this form
    expected: str


@dataclass(frozen=True, slots=True)
class Variable:
    """One MODELGATE_* variable: the Settings field it fills, its form, who reads it and why."""

    name: str
    field: str
    form: Form
    help: str
    readers: frozenset[Reader]
    secret: bool = False  # may hold credentials: never echoed whole
    unset: str = ""  # what leaving it unset means, when its default is no value

    def read(self, text: str) -> Any:
        """Parse text, or raise SettingsError saying what was expected."""
        try:
            return self.form.parse(text)
        except ValueError:
            shown = mask_url(text) if self.secret else text
            raise SettingsError(
                f"{self.name} must be {self.form.expected}, got {shown!r}"
            ) from None


def mask_url(url: str) -> str:
    """The URL safe to print: whatever precedes the last '@' (after the scheme) may be a secret."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme = head.split("://", 1)[0] + "://" if "://" in head else ""
    return f"{scheme}**@{tail}"


def _integer(low: int, high: int | None = None) -> Form:
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value

    if high is None:
        return Form(parse, f"an integer of at least {low}")
    return Form(parse, f"an integer from {low} to {high}")


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _choice(choices: Iterable[str], *, upper: bool = False) -> Form:
    allowed = tuple(choices)

    def parse(text: str) -> str:
        value = text.upper() if upper else text
        if value not in allowed:
            raise ValueError(text)
        return value

    return Form(parse, f"one of {', '.join(allowed)}")


def _pattern(regex: re.Pattern[str], expected: str) -> Form:
    def parse(text: str) -> str:
        if not regex.fullmatch(text):
            raise ValueError(text)
        return text

    return Form(parse, expected)


def _switch(text: str) -> bool:
    """on/off, true/false, yes/no or 1/0, any case (to_env writes True/False)."""
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(text)


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this host only."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


# The query arguments redis-py's parse_url converts to numbers, and how: a value that does
# not convert is refused here as it would be there.
_REDIS_URL_NUMBERS: dict[str, Callable[[str], object]] = {
    "db": int,
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "socket_read_size": int,
    "max_connections": int,
    "health_check_interval": int,
    "ssl_min_version": int,
    "timeout": float,
    "protocol": int,
}


def _redis_url(text: str) -> str:
    """Accept what redis-py connects to, and a database number only where it can be one.

    The checks of redis-py's parse_url, written out: importing redis.connection costs about
    8 MB in processes that only read settings and never connect (the API server's main
    process, the command line).
    """
    scheme, _, rest = text.partition("://")
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(text)
    parts = urlsplit(text)
    for name, values in parse_qs(parts.query).items():
        parse = _REDIS_URL_NUMBERS.get(name)
        if parse is not None and values:
            parse(values[0])  # ValueError, as in parse_url
    if scheme == "unix":
        if not parts.path:
            raise ValueError(text)
        return text
    parts.port  # noqa: B018  # ValueError for a port that is not a number in range
    path = rest.partition("/")[2].partition("?")[0]
    if path and not path.isdigit():  # redis-py would silently use database 0
        raise ValueError(text)
    return text


def _host(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOSTNAME.fullmatch(text):
            raise
    return text


def _broker_url(text: str) -> str:
    """Accept an AMQP URL with a host and a valid port, or any URL a Redis broker takes."""
    scheme, _, _ = text.partition("://")
    if scheme not in AMQP_SCHEMES:
        return _redis_url(text)
    parts = urlsplit(text)
    _ = parts.port  # ValueError: a port that is not a number from 0 to 65535
    if not parts.hostname:
        raise ValueError(text)
    return text


_SECONDS = Form(_seconds, "a number of seconds greater than 0")
_COUNT = _integer(1)
_REDIS_URL = Form(_redis_url, f"a redis://, rediss:// or unix:// URL, e.g. {REDIS_URL_EXAMPLE}")
_BROKER_URL = Form(_broker_url, f"an amqp://, amqps:// or redis:// URL, e.g. {AMQP_URL_EXAMPLE}")
_API, _NODE, _STACK = Reader.API, Reader.NODE, Reader.STACK
_EVERYONE = frozenset(Reader)


def _var(
    name: str, field: str, form: Form, readers: Iterable[Reader], text: str, **kw: Any
) -> Variable:
    return Variable(PREFIX + name, field, form, text, frozenset(readers), **kw)


VARIABLES: tuple[Variable, ...] = (
    _var(
        "REDIS_URL",
        "redis_url",
        _REDIS_URL,
        _EVERYONE,
        "Redis for records (and the Celery broker without MODELGATE_BROKER_URL)",
        secret=True,
        unset="api and worker refuse to start, up starts its own",
    ),
    _var(
        "QUEUE_REDIS_URL",
        "queue_redis_url",
        _REDIS_URL,
        _EVERYONE,
        "memory-only Redis for predicts and replies",
        secret=True,
        unset="the records' Redis",
    ),
    _var(
        "BROKER_URL",
        "broker_url",
        _BROKER_URL,
        [_API, _NODE, _STACK, Reader.STATUS],
        "Celery broker for register/deploy/undeploy jobs: RabbitMQ (amqp://) or a Redis",
        secret=True,
        unset="the records' Redis",
    ),
    _var(
        "BROKER_QUEUE_TYPE",
        "broker_queue_type",
        _choice(QUEUE_TYPES),
        [_API, _NODE, _STACK],
        "type of the job queues on RabbitMQ (ignored on a Redis broker)",
    ),
    _var(
        "DATA_DIR",
        "data_dir",
        Form(Path, "a directory"),
        [_API, _NODE, _STACK, Reader.USERS],
        "up's embedded Redis data, the users file, up --tls's certificates, the master key file",
    ),
    _var(
        "MASTER_KEY_FILE",
        "master_key_file",
        Form(Path, "a file path"),
        _EVERYONE,
        "credential master keys (created 0600 on a cluster's first start; share it with "
        "every process of the cluster)",
        unset="MODELGATE_DATA_DIR/master.key",
    ),
    _var(
        "MASTER_KEY",
        "master_key",
        Form(str, "base64 keys separated by commas"),
        _EVERYONE,
        "credential master keys, newest first, comma-separated, instead of the key file "
        "(e.g. from a secrets manager)",
        secret=True,
        unset="the key file",
    ),
    _var(
        "HOST",
        "host",
        Form(_host, "an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0"),
        [_API, _STACK],
        "interface the API listens on",
    ),
    _var("PORT", "port", _integer(1, 65535), [_API, _STACK], "port the API listens on"),
    _var(
        "KEY_PREFIX",
        "key_prefix",
        _pattern(_KEY_PREFIX, "letters, digits, '.', '_', ':' or '-', e.g. mg"),
        _EVERYONE,
        "prefix of every Redis key: clusters sharing a Redis use different ones",
    ),
    _var("CLUSTER_NAME", "cluster_name", Form(str, "a name"), [_API], "cluster_name in GET /"),
    _var(
        "PREDICT_TIMEOUT",
        "predict_timeout_s",
        _SECONDS,
        [_API, _NODE],
        "seconds a predict (and a job) may take",
    ),
    _var(
        "HEARTBEAT_INTERVAL",
        "heartbeat_interval_s",
        _SECONDS,
        _EVERYONE,
        "seconds between node heartbeats; a node missing 3 is dead",
    ),
    _var(
        "VISIBILITY_TIMEOUT",
        "visibility_timeout_s",
        _COUNT,
        [_API, _NODE],
        "seconds before a dead node's job is redelivered (Redis broker; RabbitMQ: at once)",
    ),
    _var(
        "RESTORE_INTERVAL",
        "restore_interval_s",
        _COUNT,
        [_API, _NODE],
        "seconds between checks for such jobs",
    ),
    _var(
        "WORKER_CONCURRENCY",
        "worker_concurrency",
        _COUNT,
        [_NODE],
        "predicts a node serves at once",
    ),
    _var("API_WORKERS", "api_workers", _COUNT, [_API], "API worker processes"),
    _var("API_THREADS", "api_threads", _COUNT, [_API], "request threads per API worker"),
    _var("NODE_ROLE", "node_role", _choice(NODE_ROLES), [_NODE], "a node's role without --role"),
    _var(
        "NODE_NAME",
        "node_name",
        _pattern(_NODE_NAME, "letters, digits, '.', '_' or '-', e.g. ml-1"),
        [_NODE],
        "a node's name without --name",
        unset="ROLE-HOSTNAME",
    ),
    _var(
        "LOG_LEVEL",
        "log_level",
        _choice(LOG_LEVELS, upper=True),
        [_NODE, _STACK],
        "node log level; INFO and DEBUG also show Celery's banner",
    ),
    _var(
        "METRICS",
        "metrics",
        Form(_switch, "on or off"),
        [_API, _NODE, _STACK],
        "Prometheus metrics: GET /metrics on the API and a metrics port on each node",
    ),
    _var(
        "METRICS_PORT",
        "metrics_port",
        _integer(0, 65535),
        [_NODE],
        "port of a node's metrics server; 0 picks a free one (modelgate status shows it)",
    ),
    _var(
        "METRICS_HOST",
        "metrics_host",
        Form(_host, "an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0"),
        [_NODE],
        "interface a node's metrics server listens on",
    ),
    _var(
        "SECURITY",
        "security",
        Form(_switch, "on or off"),
        [_API, _STACK],
        "HTTP basic auth and the Security plugin's roles on every API request",
        unset="on unless the API listens on a loopback address only",
    ),
    _var(
        "SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND",
        "insecure_public_ok",
        Form(_switch, "on or off"),
        [_API, _STACK],
        "let the API listen beyond loopback with security off: whoever reaches it can do anything",
        unset="off: refused",
    ),
    _var(
        "USERS_FILE",
        "users_file",
        Form(Path, "a file path"),
        [_API, _STACK, Reader.USERS],
        "internal users (YAML with bcrypt hashes, written by `modelgate user add`)",
        unset="MODELGATE_DATA_DIR/internal_users.yml",
    ),
    _var(
        "TLS_CERT_FILE",
        "tls_cert_file",
        Form(Path, "a file path"),
        [_API, _STACK],
        "PEM certificate (chain) the API serves HTTPS with; needs MODELGATE_TLS_KEY_FILE",
        unset="plain HTTP",
    ),
    _var(
        "TLS_KEY_FILE",
        "tls_key_file",
        Form(Path, "a file path"),
        [_API, _STACK],
        "PEM private key of that certificate",
        unset="plain HTTP",
    ),
    _var(
        "AUTH_ALLOWED_TRIES",
        "auth_allowed_tries",
        _COUNT,
        [_API, _STACK],
        "failed logins from one client address, within the time window, before it is blocked",
    ),
    _var(
        "AUTH_TIME_WINDOW",
        "auth_time_window_s",
        _COUNT,
        [_API, _STACK],
        "seconds over which an address's failed logins are counted",
    ),
    _var(
        "AUTH_BLOCK_SECONDS",
        "auth_block_s",
        _COUNT,
        [_API, _STACK],
        "seconds a blocked address is refused (429) before it may log in again",
    ),
)


def variables_read_by(readers: Iterable[Reader]) -> list[Variable]:
    """The variables any of these readers reads, in table order."""
    wanted = set(readers)
    return [var for var in VARIABLES if var.readers & wanted]


def unknown_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map each MODELGATE_* variable (any case) that is no setting to a one-line warning."""
    env = os.environ if environ is None else environ
    # Compared without the prefix, which every name shares and which would make all look alike.
    known = {var.name.removeprefix(PREFIX): var.name for var in VARIABLES}
    warnings: dict[str, str] = {}
    for name in env:
        if not name.upper().startswith(PREFIX) or name in known.values():
            continue
        close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), known, n=1)
        hint = f"; did you mean {known[close[0]]}?" if close else " (see modelgate COMMAND --help)"
        warnings[name] = f"{name} is not a modelgate setting{hint}"
    return warnings


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a modelgate process needs to know about its environment."""

    redis_url: str | None = None
    queue_redis_url: str | None = None  # predicts and replies; unset: the records' Redis
    broker_url: str | None = None  # Celery jobs; unset: the records' Redis
    broker_queue_type: str = "quorum"  # RabbitMQ only
    data_dir: Path = field(default_factory=lambda: Path(".modelgate"))
    master_key_file: Path | None = None  # unset: data_dir / MASTER_KEY_FILE_NAME
    master_key: str | None = field(default=None, repr=False)  # a secret: never in a repr
    host: str = "127.0.0.1"
    port: int = 9200
    key_prefix: str = "mg"
    cluster_name: str = "modelgate"
    predict_timeout_s: float = 60.0
    heartbeat_interval_s: float = 2.0
    visibility_timeout_s: int = 300
    restore_interval_s: int = 10
    worker_concurrency: int = 128
    api_workers: int = 2
    api_threads: int = 32
    node_role: str = "ml"  # for `celery -A workers.celery_app worker` started without --role
    node_name: str = ""
    log_level: str = "WARNING"
    metrics: bool = True
    metrics_port: int = 0  # 0: a free port, announced in the node table
    metrics_host: str = "127.0.0.1"
    security: bool | None = None  # unset: on unless the API listens on loopback only
    insecure_public_ok: bool | None = None  # security off on a public address, on purpose
    users_file: Path | None = None  # unset: data_dir / USERS_FILE_NAME
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The Security plugin's ip_rate_limiting defaults: 10 tries an hour, then 10 minutes out.
    auth_allowed_tries: int = 10
    auth_time_window_s: int = 3600
    auth_block_s: int = 600

    @property
    def security_enabled(self) -> bool:
        """Whether requests must authenticate: as configured, else whenever the API is
        reachable from beyond this host."""
        return self.security if self.security is not None else not is_loopback(self.host)

    @property
    def master_key_path(self) -> Path:
        """The master key file (unused when MODELGATE_MASTER_KEY holds the keys)."""
        return self.master_key_file or self.data_dir / MASTER_KEY_FILE_NAME

    @property
    def users_path(self) -> Path:
        """The internal users file."""
        return self.users_file or self.data_dir / USERS_FILE_NAME

    @property
    def tls_enabled(self) -> bool:
        """Whether the API serves HTTPS (a certificate is configured)."""
        return self.tls_cert_file is not None

    @property
    def node_ttl_s(self) -> float:
        """How long a node stays alive without a heartbeat."""
        return self.heartbeat_interval_s * 3 + 1

    @property
    def reply_ttl_s(self) -> int:
        """How long an answer waits on its reply list: past the deadline nobody reads it."""
        return int(self.predict_timeout_s) + 5

    def require_queue_redis_url(self) -> str:
        """Return the Redis that carries predict requests and replies (never persisted)."""
        return self.queue_redis_url or self.require_redis_url()

    def require_broker_url(self) -> str:
        """Return the Celery broker: MODELGATE_BROKER_URL, else the records' Redis."""
        return self.broker_url or self.require_redis_url()

    @property
    def broker_is_amqp(self) -> bool:
        """True when Celery's jobs go through RabbitMQ rather than Redis."""
        return self.require_broker_url().partition("://")[0] in AMQP_SCHEMES

    def require_redis_url(self) -> str:
        """Return the Redis URL, failing clearly when none was configured."""
        if not self.redis_url:
            raise SettingsError(f"{PREFIX}REDIS_URL is not set: expected {_REDIS_URL.expected}")
        return self.redis_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build Settings from MODELGATE_* variables; the only reader of os.environ.

        An unset or empty variable means its default; any other value must fit its form.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            text = env.get(var.name)
            if text:
                values[var.field] = var.read(text)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Render these settings as MODELGATE_* variables for a child process."""
        env: dict[str, str] = {}
        for var in VARIABLES:
            value = getattr(self, var.field)
            if value is not None and value != "":
                env[var.name] = str(value)
        return env

    def describe(self, var: Variable) -> str:
        """How --help shows a variable's value in these settings (the defaults: Settings())."""
        value = getattr(self, var.field)
        if value is not None and value != "":
            return f"default: {value}"
        return f"unset: {var.unset}" if var.unset else "default: unset"
