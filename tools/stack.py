"""`modelgate up`: the whole stack in the foreground, each process restarted when it dies.

Redis (embedded unless configured), the API, the nodes and, on request, the mock upstream.
Ctrl-C or SIGTERM stops them all: the API first, so the requests it holds are answered.
Every process started here dies with this one, even if it is killed outright (the kernel's
parent-death signal, tools/processes.py), and every process leads a process group of its own:
a terminal's Ctrl-C reaches this process alone, which stops the others in order.
"""

from __future__ import annotations

import argparse
import errno
import http.client
import os
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis

from common.nodes import alive
from common.security.exposure import check_exposure, users_warning
from common.settings import Settings, SettingsError, mask_url
from common.store import Store, open_store
from tools import processes
from tools.arguments import non_negative_int, port, positive_float, positive_int
from tools.cli import command
from tools.embedded_redis import EmbeddedRedis, free_port
from tools.supervisor import CrashLoop, RestartPolicy, Service, StartupError, Supervisor, say

TICK_S = 0.1
# granian kills a worker that has not stopped within the predict timeout plus a margin
# (tools/serve.py), so every request it holds gets an answer first; this grace only ends a
# server process that hangs beyond that.
API_GRACE_MARGIN_S = 10.0
NODE_GRACE_S = 10.0
MOCK_GRACE_S = 5.0
REDIS_GRACE_S = 10.0
MOCK_UPSTREAM_PORT = 8900
LOOPBACK = "127.0.0.1"
API_ELSEWHERE = "or set MODELGATE_HOST / MODELGATE_PORT"
ANOTHER_PORT = "or pass another port (0 picks a free one)"
ROLE_NAMES = {"ml": "ML", "data": "data"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the up sub-command's flags."""
    add = parser.add_argument
    add("--ml-workers", type=positive_int, default=1, help="ML nodes to start (default 1)")
    add("--data-workers", type=non_negative_int, default=1, help="data nodes to start (default 1)")
    add("--mock-upstream", action="store_true", help="also serve the bundled mock upstream")
    add(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate made in the data dir (prints its CA"
        " file); MODELGATE_TLS_CERT_FILE / MODELGATE_TLS_KEY_FILE use your own instead",
    )
    add(
        "--mock-upstream-port",
        type=port,
        default=MOCK_UPSTREAM_PORT,
        help="port of the mock upstream (default %(default)s; 0 picks a free one)",
    )
    add(
        "--redis-port",
        type=port,
        default=0,
        help="port of the embedded records Redis (default: a free one)",
    )
    add(
        "--queue-redis-port",
        type=port,
        default=0,
        help="port of the embedded queue Redis (default: a free one)",
    )
    add(
        "--max-restarts",
        type=non_negative_int,
        default=5,
        help="restarts of one process within --restart-window before the stack gives up",
    )
    add(
        "--restart-window",
        type=positive_float,
        default=60.0,
        help="seconds over which --max-restarts counts",
    )
    add(
        "--ready-timeout",
        type=positive_float,
        default=90.0,
        help="seconds every process gets to start serving",
    )


class Hurry(BaseException):
    """A second stop signal: stop at once. Not an Exception, so nothing on the way catches it."""


class StopRequest:
    """SIGINT, SIGTERM or SIGHUP (its terminal closed): the first asks the stack to stop, a
    second one hurries the stop."""

    def __init__(self) -> None:
        self.requested = False
        self.hurried = False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if not self.requested:
            self.requested = True
        elif not self.hurried:  # later signals: the processes are being killed already
            self.hurried = True
            raise Hurry


@dataclass(frozen=True)
class Listener:
    """A TCP address something of the stack is to listen on, for the start-up check."""

    what: str
    host: str
    port: int
    remedy: str


def main(args: argparse.Namespace) -> int:
    """Run the stack in the foreground until a stop signal, a start-up failure or a crash loop."""
    stop = StopRequest()
    supervisor = Supervisor(
        RestartPolicy(max_restarts=args.max_restarts, window_s=args.restart_window)
    )
    code, hurry = 1, False
    try:
        code = _run(args, supervisor, stop)
    except (StartupError, CrashLoop, SettingsError) as error:
        say(str(error))
    except Hurry:
        hurry = True
    finally:
        _stop(supervisor, hurry)
    return code


def _stop(supervisor: Supervisor, hurry: bool) -> None:
    try:
        if not hurry:
            supervisor.stop()
            return
    except Hurry:
        pass
    say("stopping every process at once")
    supervisor.stop(hurry=True)


def _run(args: argparse.Namespace, supervisor: Supervisor, stop: StopRequest) -> int:
    settings = _with_tls(args, Settings.from_env())
    check_exposure(settings)
    if warning := users_warning(settings):
        say(warning)
    mock_port = args.mock_upstream_port or free_port()
    _check_free(_listeners(args, settings, mock_port))
    settings = _start_redis(args, settings, supervisor, stop)
    if stop.requested:
        return 0
    env = {**os.environ, **settings.to_env()}
    store = open_store(settings)
    _open_keys(settings)
    services = [_api(env, settings), *_nodes(args, env, store, settings)]
    if args.mock_upstream:
        services.append(_mock_upstream(mock_port))
    for service in services:
        supervisor.start(service)
    if not _wait_ready(supervisor, services, stop, args.ready_timeout):
        return 0
    _announce(settings, mock_port if args.mock_upstream else None)
    while not stop.requested:
        supervisor.check()
        time.sleep(TICK_S)
    return 0


def _with_tls(args: argparse.Namespace, settings: Settings) -> Settings:
    """With --tls and no certificate configured, a self-signed one for a local try."""
    if not args.tls or settings.tls_enabled:
        return settings
    from tools.tls import self_signed  # cryptography's x509: only with --tls

    files = self_signed(settings.data_dir.resolve() / "tls", settings.host)
    print(f"TLS: self-signed certificate {files.cert}; clients trust the CA file {files.ca}")
    return replace(settings, tls_cert_file=files.cert, tls_key_file=files.key)


def _api_url(settings: Settings) -> str:
    scheme = "https" if settings.tls_enabled else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def _open_keys(settings: Settings) -> None:
    """Make the key file (or move the key an older modelgate kept in Redis into it) once,
    here, so a problem with the keys stops the stack before it serves anything.

    In a forked child: the key ring needs cryptography's AES (about 8 MB), which the
    supervisor would otherwise keep for its whole life without using it again.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: open the ring, report a refusal through the pipe, exit
        code = 1
        try:
            os.close(read_end)
            code = _open_keys_here(settings, write_end)
        finally:
            os._exit(code)  # whatever happened: never run the supervisor's code in the child
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reason = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise StartupError(reason or "could not open the master key")


def _open_keys_here(settings: Settings, report: int) -> int:
    try:
        from common.keyring import KeyRingError, key_source, open_ring

        store = open_store(settings)
        try:
            open_ring(key_source(settings), store.master_key)
        except KeyRingError as error:
            os.write(report, error.reason.encode())
            return 1
        return 0
    except BaseException as error:  # noqa: BLE001  # whatever it is, the parent says it
        os.write(report, f"{type(error).__name__}: {error}".encode())
        return 1


def _announce(settings: Settings, mock_port: int | None) -> None:
    print(f"modelgate API on {_api_url(settings)}", flush=True)
    if mock_port is not None:
        print(f"mock upstream on http://{LOOPBACK}:{mock_port}", flush=True)
    print("modelgate is ready", flush=True)


def _wait_ready(
    supervisor: Supervisor, services: list[Service], stop: StopRequest, timeout_s: float
) -> bool:
    """Wait until every service serves; False if a stop was asked for first."""
    deadline = time.monotonic() + timeout_s
    while not stop.requested:
        if supervisor.check_startup(services):
            return True
        if time.monotonic() > deadline:
            waiting = ", ".join(s.name for s in services if not s.is_ready())
            raise StartupError(
                f"not ready within {timeout_s:g} s, still waiting for: {waiting}; "
                "see the output above (--ready-timeout waits longer)"
            )
        time.sleep(TICK_S)
    return False


def _listeners(args: argparse.Namespace, settings: Settings, mock_port: int) -> list[Listener]:
    found = [Listener("the API", settings.host, settings.port, API_ELSEWHERE)]
    embedded = not settings.redis_url
    if embedded and args.redis_port:
        found.append(Listener("the records Redis", LOOPBACK, args.redis_port, ANOTHER_PORT))
    if embedded and not settings.queue_redis_url and args.queue_redis_port:
        found.append(Listener("the queue Redis", LOOPBACK, args.queue_redis_port, ANOTHER_PORT))
    if args.mock_upstream:
        found.append(Listener("the mock upstream", LOOPBACK, mock_port, ANOTHER_PORT))
    return found


def _check_free(listeners: list[Listener]) -> None:
    """Refuse to start when an address the stack needs is taken: one clear line, not a trace."""
    for listener in listeners:
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As the servers do: a port whose old connections linger in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((listener.host, listener.port))
            except OSError as error:
                taken = error.errno == errno.EADDRINUSE
                why = "the port is in use; stop what uses it " if taken else f"{error.strerror}, "
                raise StartupError(
                    f"cannot start {listener.what} on {listener.host}:{listener.port}: "
                    f"{why}{listener.remedy}"
                ) from None


def _start_redis(
    args: argparse.Namespace, settings: Settings, supervisor: Supervisor, stop: StopRequest
) -> Settings:
    """Start the embedded servers no URL replaces (records and queues apart); wait for them."""
    if settings.redis_url:
        # A configured Redis also carries the predicts, unless a queue URL is configured too.
        _require_reachable(settings.redis_url, "MODELGATE_REDIS_URL")
        if settings.queue_redis_url:
            _require_reachable(settings.queue_redis_url, "MODELGATE_QUEUE_REDIS_URL")
        return settings
    records = EmbeddedRedis(settings.data_dir.resolve() / "redis", args.redis_port or None)
    started = [_redis_service("the records Redis", records)]
    settings = replace(settings, redis_url=records.url)
    # The URLs the processes get carry the password; what is printed does not.
    print(f"embedded Redis on {records.shown_url} (data in {records.data_dir})", flush=True)
    if settings.queue_redis_url:
        _require_reachable(settings.queue_redis_url, "MODELGATE_QUEUE_REDIS_URL")
    else:
        # Prompts and answers are users' data in transit: they stay in memory, never on disk.
        queue_dir = settings.data_dir.resolve() / "queues"
        queues = EmbeddedRedis(queue_dir, args.queue_redis_port or None, persistent=False)
        started.append(_redis_service("the queue Redis", queues))
        settings = replace(settings, queue_redis_url=queues.url)
        print(f"embedded memory-only queue Redis on {queues.shown_url}", flush=True)
    for service in started:
        supervisor.start(service)
    _wait_ready(supervisor, started, stop, timeout_s=args.ready_timeout)
    return settings


def _redis_service(name: str, server: EmbeddedRedis) -> Service:
    def ready(process: processes.Child) -> bool:
        return server.answers()

    return Service(
        name, server.spawn, ready, stage=2, grace_s=REDIS_GRACE_S, explain=server.failure
    )


def _require_reachable(url: str, variable: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        raise StartupError(
            f"cannot reach the Redis at {mask_url(url)} ({variable}): {str(error).rstrip('.')}; "
            f"start it, or unset {variable} to use an embedded one"
        ) from None
    finally:
        client.close()


def _api(env: dict[str, str], settings: Settings) -> Service:
    url = _api_url(settings) + "/"

    def launch() -> processes.Child:
        # The server stops its own workers: it alone gets the polite signal (relays).
        return processes.spawn(
            command("api"), env=env, new_group=True, relays=True, dies_with_parent=True
        )

    grace = settings.predict_timeout_s + API_GRACE_MARGIN_S
    # With security on, GET / answers 401 to the anonymous probe: that is serving too.
    ready = (200, 401) if settings.security_enabled else (200,)
    return Service("the API", launch, lambda _: _answers(url, ready), stage=0, grace_s=grace)


def _nodes(
    args: argparse.Namespace, env: dict[str, str], store: Store, settings: Settings
) -> list[Service]:
    found = []
    for role, count in (("ml", args.ml_workers), ("data", args.data_workers)):
        for i in range(count):
            name = f"{role}-{i + 1}"
            cmd = command("worker", "--role", role, "--name", name)
            if role == "ml" and i == 0:
                cmd.append("--with-beat")  # the cluster's one beat (periodic sync-up)
            found.append(
                Service(
                    f"the {ROLE_NAMES[role]} node {name}",
                    _launcher(cmd, env),
                    lambda process: _node_alive(store, settings, process.pid),
                    stage=1,
                    grace_s=NODE_GRACE_S,
                )
            )
    return found


def _mock_upstream(mock_port: int) -> Service:
    cmd = command("mock-upstream", "--port", str(mock_port))
    url = f"http://127.0.0.1:{mock_port}/health"
    return Service(
        "the mock upstream",
        _launcher(cmd, None),
        lambda _: _answers(url),
        stage=1,
        grace_s=MOCK_GRACE_S,
    )


def _launcher(cmd: list[str], env: dict[str, str] | None) -> Callable[[], processes.Child]:
    def launch() -> processes.Child:
        return processes.spawn(cmd, env=env, new_group=True, dies_with_parent=True)

    return launch


def _node_alive(store: Store, settings: Settings, pid: int) -> bool:
    """Whether the node run by process pid announced itself in the node table."""
    try:
        nodes = alive(store.nodes.all(), settings.node_ttl_s)
    except redis.RedisError:
        return False
    return any(node.pid == pid for node in nodes)


def _answers(url: str, statuses: tuple[int, ...] = (200,)) -> bool:
    # No proxies: one from the environment must not answer for a loopback address.
    # The probe asks only whether our own child serves: its certificate (self-signed, or one
    # for a public name) is the clients' to verify, not this probe's.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    handlers = (urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=1) as response:
            return response.status in statuses
    except urllib.error.HTTPError as error:
        return error.code in statuses
    except (OSError, http.client.HTTPException):
        return False
