"""deploy/: every YAML file parses, the vLLM arguments match the launcher's default
profile, every ONCALL_ variable names a real setting, and the scale-out shape is there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from oncall.core.settings import LLMSettings, Settings, VLLMSettings
from oncall.llm.vllm_serve import build_vllm_command
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])


def load(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        if path.name == "kustomization.yaml":
            continue
        for doc in load(path):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def launcher_args() -> list[str]:
    """`vllm serve` arguments of the default profile, bound for a container."""
    return build_vllm_command(LLMSettings(vllm=VLLMSettings(host="0.0.0.0")))[2:]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    docs = load(path)
    assert docs, f"{path} is empty"
    if path.parent.name == "k8s" and path.name != "kustomization.yaml":
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    resources = load(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"]
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert set(resources) == files - {"kustomization.yaml", "secret.example.yaml"}


def test_compose_has_the_whole_stack_and_the_launcher_profile() -> None:
    compose = load(DEPLOY / "docker-compose.yml")[0]
    services = compose["services"]
    assert set(services) >= {"vllm", "qdrant", "postgres", "web", "slack"}
    vllm = services["vllm"]
    assert vllm["entrypoint"] == ["vllm", "serve"]
    assert [str(a) for a in vllm["command"]] == launcher_args()
    gpu = vllm["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    web_env = services["web"]["environment"]
    assert web_env["ONCALL_LLM__BASE_URL"] == "http://vllm:8000/v1"
    assert web_env["ONCALL_APPSTATE__URL"].startswith("postgresql://")
    assert "ONCALL_WEB__SESSION_SECRET" in web_env, "replicas must verify each other's cookies"


def test_compose_runs_two_replicas_of_each_front_end_behind_the_balancer() -> None:
    services = load(DEPLOY / "docker-compose.yml")[0]["services"]
    for name in ("web", "slack"):
        assert services[name]["deploy"]["replicas"] == 2
        assert services[name]["environment"]["ONCALL_APPSTATE__URL"].startswith("postgresql://")
    assert services["slack"]["command"][:2] == ["slack", "--http"]
    mounted = services["lb"]["volumes"][0].split(":")[0]
    conf = (DEPLOY / mounted).read_text()
    assert "server web:8080" in conf and "server slack:3000" in conf
    assert {p.split(":")[0] for p in services["lb"]["ports"]} == {"8080", "3000"}


def test_k8s_app_pods_share_the_app_state_database() -> None:
    objects = k8s_objects()
    secret = load(DEPLOY / "k8s" / "secret.example.yaml")[0]["stringData"]
    for name in ("web", "slack"):
        container = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("valueFrom", {}) for e in container.get("env", [])}
        ref = env["ONCALL_APPSTATE__URL"]["secretKeyRef"]
        assert ref["name"] == "oncall-secrets" and ref["key"] in secret
        for value in env.values():
            if "secretKeyRef" in value:
                assert value["secretKeyRef"]["key"] in secret, value
    slack = objects[("Deployment", "slack")]["spec"]["template"]["spec"]["containers"][0]
    assert slack["args"] == ["slack", "--http"]


def test_the_image_copies_every_package_it_installs() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    packages = {"oncall", "agent", "tools", "ingest", "bots", "evals"}  # pyproject's find
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_k8s_vllm_requests_a_gpu_and_runs_the_launcher_profile() -> None:
    vllm = k8s_objects()[("StatefulSet", "vllm")]
    container = vllm["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["vllm", "serve"]
    assert [str(a) for a in container["args"]] == launcher_args()
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["startupProbe"]["httpGet"]["path"] == "/health"


def test_k8s_scale_shape() -> None:
    objects = k8s_objects()
    qdrant = objects[("StatefulSet", "qdrant")]["spec"]
    assert qdrant["replicas"] >= 3
    env = {e["name"]: e.get("value") for e in qdrant["template"]["spec"]["containers"][0]["env"]}
    assert env["QDRANT__CLUSTER__ENABLED"] == "true"
    config = objects[("ConfigMap", "oncall-config")]["data"]
    assert int(config["ONCALL_STORE__REPLICATION_FACTOR"]) >= 2
    assert int(config["ONCALL_STORE__SHARD_NUMBER"]) >= qdrant["replicas"]
    for name in ("web", "slack"):
        assert objects[("Deployment", name)]["spec"]["replicas"] >= 2
        assert objects[("HorizontalPodAutoscaler", name)]["spec"]["maxReplicas"] > 2
    assert ("StatefulSet", "postgres") in objects


def _setting_exists(variable: str) -> bool:
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("ONCALL_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_every_oncall_variable_is_a_real_setting() -> None:
    names: set[str] = set()
    compose = load(DEPLOY / "docker-compose.yml")[0]
    for service in compose["services"].values():
        names |= set(service.get("environment") or {})
    config = k8s_objects()[("ConfigMap", "oncall-config")]["data"]
    names |= set(config)
    for doc in k8s_objects().values():
        text = yaml.safe_dump(doc)
        names |= {w.strip(":,'\"") for w in text.split() if w.startswith("ONCALL_")}
    oncall = sorted(n for n in names if n.startswith("ONCALL_"))
    assert oncall, "found no settings at all"
    unknown = [n for n in oncall if not _setting_exists(n)]
    assert not unknown, f"not fields of oncall/core/settings.py: {unknown}"
