"""deploy/: the Kubernetes manifests and compose.yaml are valid, and agree with the code.

Offline checks only (no cluster, no Docker daemon, no image build): the Kubernetes API schemas
bundled with kubernetes-validate, the Compose Specification schema vendored by check-jsonschema,
and cross-checks against the settings table, the CLI's own parser and the metrics names.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from common.metrics import API_PATH
from common.settings import VARIABLES, Settings
from tools.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
RESOURCES = [p for p in K8S if p.name != "kustomization.yaml"]
# The oldest Kubernetes these manifests claim to work on, and the newest whose schema we have.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SETTING_NAMES = {var.name for var in VARIABLES}
WORKER_ROLES = ("ml", "data")


@functools.cache
def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _resources() -> list[dict[str, Any]]:
    return [doc for path in RESOURCES for doc in _documents(path)]


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in _resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


# Kubernetes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", RESOURCES, ids=lambda p: p.name)
def test_every_manifest_is_a_valid_kubernetes_resource(path: Path, version: str) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _documents(DEPLOY / "k8s" / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(p.name for p in RESOURCES)


def test_one_deployment_per_role_each_running_a_real_command() -> None:
    deployments = {r["metadata"]["name"]: r for r in _resources() if r["kind"] == "Deployment"}
    assert set(deployments) == {f"modelgate-{role}" for role in ("api", "beat", *WORKER_ROLES)}
    for name, deployment in deployments.items():
        args = _container(deployment)["args"]
        parsed = build_parser(args[0]).parse_args(args)  # SystemExit on a bad command line
        role = name.removeprefix("modelgate-")
        assert parsed.command == ("worker" if role in WORKER_ROLES else role)
        if role in WORKER_ROLES:
            assert parsed.role == role


def test_selectors_match_their_pods() -> None:
    pods = {
        r["metadata"]["name"]: r["spec"]["template"]["metadata"]["labels"]
        for r in _resources()
        if r["kind"] == "Deployment"
    }
    for resource in _resources():
        spec = resource.get("spec", {})
        if resource["kind"] == "Deployment":
            assert (
                spec["selector"]["matchLabels"].items()
                <= pods[resource["metadata"]["name"]].items()
            )
        elif resource["kind"] == "PodDisruptionBudget":
            labels = pods[resource["metadata"]["name"]]
            assert spec["selector"]["matchLabels"].items() <= labels.items()
        elif resource["kind"] == "Service":
            assert spec["selector"].items() <= pods["modelgate-api"].items()


def test_each_worker_role_has_an_autoscaler_and_a_disruption_budget() -> None:
    for role in WORKER_ROLES:
        name = f"modelgate-{role}"
        hpa = _one("HorizontalPodAutoscaler", name)
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # CPU utilization needs a CPU request to be measured against.
        assert _container(_one("Deployment", name))["resources"]["requests"]["cpu"]
        _one("PodDisruptionBudget", name)
    _one("PodDisruptionBudget", "modelgate-api")


def test_probes_use_declared_ports_and_node_probes_the_metrics_port() -> None:
    config = _one("ConfigMap", "modelgate")["data"]
    for role in ("api", *WORKER_ROLES):
        container = _container(_one("Deployment", f"modelgate-{role}"))
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            check = container[probe]
            target = (check.get("httpGet") or check["tcpSocket"])["port"]
            assert target in ports, (role, probe, target)
        if role in WORKER_ROLES:
            assert ports["metrics"] == int(config["MODELGATE_METRICS_PORT"])
            assert container["livenessProbe"]["httpGet"]["path"] == API_PATH
        else:
            assert ports["http"] == int(config["MODELGATE_PORT"])


def test_configmap_and_secret_hold_only_real_settings_that_parse() -> None:
    config = _one("ConfigMap", "modelgate")["data"]
    secret = _one("Secret", "modelgate")["stringData"]
    assert set(config) | set(secret) <= SETTING_NAMES
    settings = Settings.from_env({**config, **secret})
    assert settings.metrics and settings.metrics_host == "0.0.0.0"
    assert "MODELGATE_MASTER_KEY" in secret  # the master key comes from the Secret
    assert not set(config) & {var.name for var in VARIABLES if var.secret}


def test_pods_run_as_the_image_user_on_a_read_only_root() -> None:
    uid = int(re.search(r"^USER (\d+)$", _dockerfile(), re.M).group(1))  # type: ignore[union-attr]
    for deployment in (r for r in _resources() if r["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        assert _container(deployment)["securityContext"]["readOnlyRootFilesystem"] is True


# Compose -------------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker command")
def test_docker_compose_accepts_the_file() -> None:
    done = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        pytest.skip("docker has no compose plugin")
    for profile in ([], ["--profile", "rabbitmq"]):
        checked = subprocess.run(
            ["docker", "compose", *profile, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr


def test_compose_services_and_redis_durability() -> None:
    services = _compose()["services"]
    assert {"redis", "redis-queues", "api", "ml", "data", "beat", "flower", "prometheus"} <= set(
        services
    )
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"]
    records, queues = services["redis"]["command"], services["redis-queues"]["command"]
    assert _flag(records, "--appendonly") == "yes" and _flag(records, "--appendfsync") == "always"
    assert _flag(queues, "--appendonly") == "no" and _flag(queues, "--save") == ""
    for role in WORKER_ROLES:
        assert services[role]["deploy"]["replicas"] >= 1
        assert build_parser("worker").parse_args(services[role]["command"]).role == role
    assert build_parser("api").parse_args(services["api"]["command"]).command == "api"
    assert (DEPLOY.parent / services["api"]["build"]["dockerfile"]).is_file()


def test_compose_environment_holds_only_real_settings_that_parse() -> None:
    for name, service in _compose()["services"].items():
        env = {k: str(v) for k, v in service.get("environment", {}).items()}
        ours = {k: v for k, v in env.items() if k.startswith("MODELGATE_")}
        assert set(ours) <= SETTING_NAMES, name
        # ${VAR:-} interpolates to empty when unset, which means the default.
        Settings.from_env({k: re.sub(r"\$\{[^}]*\}", "", v) for k, v in ours.items()})


def test_prometheus_scrapes_the_api_path_and_the_nodes_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = _compose()["services"]
    env = services["ml"]["environment"]
    api, nodes = jobs["modelgate-api"], jobs["modelgate-nodes"]
    assert api["metrics_path"] == API_PATH
    assert api["static_configs"][0]["targets"] == [
        f"api:{services['api']['environment']['MODELGATE_PORT']}"
    ]
    (dns,) = nodes["dns_sd_configs"]
    assert sorted(dns["names"]) == sorted(WORKER_ROLES)
    assert dns["port"] == int(env["MODELGATE_METRICS_PORT"])
    assert env["MODELGATE_METRICS_HOST"] == "0.0.0.0"  # reachable from the Prometheus container


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def test_dockerfile_copies_what_exists_and_runs_the_cli_as_a_user() -> None:
    text = _dockerfile()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for source in line.split()[:-1]:
            assert (DEPLOY.parent / source).exists(), source
    assert re.search(r'^ENTRYPOINT \["modelgate"\]$', text, re.M)
    assert not re.search(r"^USER (0|root)$", text, re.M)
