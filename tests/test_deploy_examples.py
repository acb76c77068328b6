"""examples/deploy/ names only what the engine has, and the README counts what it runs.

The compose file, the Kubernetes manifests, the Dockerfile and the deploy README set
only real settings, run only `sophia` commands the CLI parses, probe only the health
routes; the proxy passes event streams through; and the connection arithmetic in the
README's "Scaling out" is the compose file's numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from graphs.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "examples" / "deploy"
IMAGE = "sophia-engine"
PROXY_READ_TIMEOUT_MIN_S = 300
TIMES = "\N{MULTIPLICATION SIGN}"  # how the README writes its products


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def k8s_documents() -> list[dict[str, Any]]:
    """The Kubernetes objects in k8s/ (the Secret's example included; not kustomize's
    own file)."""
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def sophia_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the Sophia image."""
    return {name: service for name, service in compose()["services"].items()
            if IMAGE in str(service.get("image", ""))}  # fmt: skip


def sophia_containers() -> Iterator[dict[str, Any]]:
    """The containers of the Kubernetes workloads that run the Sophia image."""
    for document in k8s_documents():
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if IMAGE in container["image"]:
                yield container


def setting_names() -> set[str]:
    """Every ``SOPHIA_*`` variable the engine reads: its settings and the service's
    security settings (the HTTP service's own model, also ``SOPHIA_*``)."""
    from graphs.server.security import SecuritySettings
    from stores.settings import Settings

    return {f"SOPHIA_{name.upper()}"
            for model in (Settings, SecuritySettings) for name in model.model_fields}  # fmt: skip


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def variables_set() -> dict[str, set[str]]:
    """Where each ``SOPHIA_*`` variable is set: compose services, ConfigMaps, Secrets and
    container ``env``."""
    found: dict[str, set[str]] = {}
    for name, service in compose()["services"].items():
        for key in environment(service):
            found.setdefault(key, set()).add(f"compose.yaml: {name}")
    for document in k8s_documents():
        where = f"k8s {document['kind']} {document['metadata']['name']}"
        if document["kind"] in ("ConfigMap", "Secret"):
            for field in ("data", "stringData"):
                for key in document.get(field) or {}:
                    found.setdefault(key, set()).add(where)
    for container in sophia_containers():
        for item in container.get("env", []):
            found.setdefault(item["name"], set()).add(f"k8s container {container['name']}")
    return {key: places for key, places in found.items() if key.startswith("SOPHIA_")}


def test_every_sophia_variable_is_a_setting() -> None:
    known = setting_names()
    found = variables_set()
    assert "SOPHIA_RUN_QUEUE" in found and "SOPHIA_POSTGRES_URL" in found  # read at all
    unknown = {key: sorted(places) for key, places in found.items() if key not in known}
    assert not unknown, f"not settings of the engine: {unknown}"


def script_commands(script: str) -> Iterator[list[str]]:
    """The ``sophia ...`` argument lists in a shell script."""
    for statement in re.split(r"[;&|\n]", script):
        if not re.search(r"(?<![\w./-])sophia(?![\w.:/-])", statement):
            continue
        words = shlex.split(statement)
        yield words[words.index("sophia") + 1 :]


def readme_commands() -> Iterator[list[str]]:
    """The ``sophia ...`` commands in the shell blocks of the deploy README."""
    text = (DEPLOY / "README.md").read_text()
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            yield from script_commands(line.split("#", 1)[0])


def dockerfile_command() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["sophia"\]$', text, flags=re.M), "the entrypoint is sophia"
    match = re.search(r"^CMD (\[.*\])$", text, flags=re.M)
    assert match, "the Dockerfile has a CMD"
    command: list[str] = json.loads(match.group(1))
    return command


def commands() -> list[tuple[str, list[str]]]:
    """Every `sophia` command the examples run, with where it comes from."""
    found: list[tuple[str, list[str]]] = [("Dockerfile CMD", dockerfile_command())]
    for name, service in sophia_services().items():
        entrypoint = service.get("entrypoint")
        command = service.get("command") or []
        if entrypoint is None:  # the image's: sophia
            found.append((f"compose.yaml: {name}", [str(word) for word in command]))
        else:
            script = " ".join([*entrypoint, *command])
            found += [(f"compose.yaml: {name}", argv) for argv in script_commands(script)]
    for container in sophia_containers():
        argv = [*container.get("command", []), *container.get("args", [])]
        argv = argv[1:] if argv[:1] == ["sophia"] else argv
        found.append((f"k8s container {container['name']}", argv))
    found += [("examples/deploy/README.md", argv) for argv in readme_commands()]
    return found


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.choices and a.dest == "command"]
    return {str(name) for name in actions[0].choices or ()}


def parse_failure(argv: list[str]) -> str | None:
    """None if `sophia ARGV` parses, else the parser's complaint."""
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        return f"exit {exc.code}: {complaint.getvalue().strip()}"
    return None


def test_every_command_parses() -> None:
    found = [(where, argv) for where, argv in commands() if argv[:1] != ["worker"]]
    assert {argv[0] for _, argv in found} >= {"serve", "seed", "keys"}
    failures = {f"{where}: sophia {' '.join(argv)}": parse_failure(argv) for where, argv in found}
    assert not {k: v for k, v in failures.items() if v}, failures


def test_worker_commands_parse() -> None:
    workers = [(where, argv) for where, argv in commands() if argv[:1] == ["worker"]]
    assert {where.split(":")[0] for where, _ in workers} >= {"compose.yaml", "k8s container worker"}
    failures = {f"{where}: sophia {' '.join(argv)}": parse_failure(argv) for where, argv in workers}
    assert not {k: v for k, v in failures.items() if v}, failures


def flag(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} in {argv}"
    return argv[argv.index(name) + 1]


def test_health_checks_call_the_health_routes() -> None:
    from graphs.server.guard import PROBES  # exempt from the Host check and from keys

    services = compose()["services"]
    for name, service in services.items():
        if service.get("restart") != "no":  # every long-running service says how it is
            assert "healthcheck" in service, f"compose service {name} has no healthcheck"
    api, worker = services["api"], services["worker"]
    api_url = urlsplit(re.findall(r"http://[^'\"\s]+", " ".join(api["healthcheck"]["test"]))[0])
    assert api_url.path in PROBES and str(api_url.port) == flag(api["command"], "--port")
    worker_url = re.findall(r"http://[^'\"\s]+", " ".join(worker["healthcheck"]["test"]))[0]
    assert urlsplit(worker_url).port == int(flag(worker["command"], "--metrics-port"))
    for container in sophia_containers():
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        argv = container["args"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            if argv[0] == "serve":
                assert get["path"] in PROBES, (container["name"], probe)
                assert ports[get["port"]] == int(flag(argv, "--port"))
            else:
                assert get["path"] == "/healthz", (container["name"], probe)
                assert ports[get["port"]] == int(flag(argv, "--metrics-port"))


def nginx_blocks(text: str) -> list[tuple[str, list[str], Any]]:
    """nginx.conf as (directive, arguments, children or None) trees."""
    tokens = re.findall(r'"[^"]*"|[{};]|[^\s{};"]+', re.sub(r"#[^\n]*", "", text))
    position = 0

    def block() -> list[tuple[str, list[str], Any]]:
        nonlocal position
        items: list[tuple[str, list[str], Any]] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                items.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                items.append((words[0], words[1:], block()))
                words = []
            elif token == "}":
                return items
            else:
                words.append(token)
        return items

    return block()


def walk(items: list[tuple[str, list[str], Any]]) -> Iterator[tuple[str, list[str], Any]]:
    for item in items:
        yield item
        if item[2] is not None:
            yield from walk(item[2])


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()  # type: ignore[union-attr]
    return int(number) * units[unit or "s"]


def test_proxy_streams_events_to_the_api_servers() -> None:
    services = compose()["services"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    tree = nginx_blocks((DEPLOY / "nginx.conf").read_text())
    upstreams = {args[0]: children for name, args, children in walk(tree) if name == "upstream"}
    api_port = flag(services["api"]["command"], "--port")
    for children in upstreams.values():
        servers = [args[0] for name, args, _ in children if name == "server"]
        assert servers == [f"api:{api_port}"], servers
    locations = [
        children
        for name, _, children in walk(tree)
        if name == "location" and any(directive == "proxy_pass" for directive, _, _ in children)
    ]
    assert locations
    for children in locations:
        directives = {(name, " ".join(args)) for name, args, _ in children}
        assert ("proxy_pass", f"http://{next(iter(upstreams))}") in directives
        assert ("proxy_buffering", "off") in directives
        assert ("proxy_set_header", "Last-Event-ID $http_last_event_id") in directives
        assert ("proxy_http_version", "1.1") in directives
        timeouts = [seconds(args[0]) for name, args, _ in children if name == "proxy_read_timeout"]
        assert timeouts and timeouts[0] >= PROXY_READ_TIMEOUT_MIN_S


def scaling_out() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Scaling out\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README.md has a section `## Scaling out`"
    return " ".join(match.group(1).split())  # one line: the prose wraps anywhere


def numbers(pattern: str, text: str) -> list[int]:
    match = re.search(pattern, text)
    assert match, f"README's Scaling out says {pattern!r}"
    return [int(group) for group in match.groups()]


def test_readme_connection_arithmetic_is_the_compose_files() -> None:
    from graphs.durable.store import PG_POOL_MAX_SIZE
    from graphs.workers.queue import API_QUEUE_POOL_MAX
    from graphs.workers.worker import QUEUE_POOL_EXTRA

    services = compose()["services"]
    api, worker = services["api"], services["worker"]
    workers, apis = worker["deploy"]["replicas"], api["deploy"]["replicas"]
    concurrency = int(flag(worker["command"], "--concurrency"))
    pool = {int(environment(s)["SOPHIA_POOL_MAX_SIZE"]) for s in (api, worker)}
    assert len(pool) == 1, "the API servers and workers share SOPHIA_POOL_MAX_SIZE"
    (pool_size,) = pool
    text = scaling_out()
    said = numbers(r"\((\d+) workers at `--concurrency (\d+)`, (\d+) API servers, "
                   r"`SOPHIA_POOL_MAX_SIZE=(\d+)`\)", text)  # fmt: skip
    assert said == [workers, concurrency, apis, pool_size]
    w, p1, a, p2, total = numbers(
        rf"(\d+) {TIMES} (\d+) \+ (\d+) {TIMES} (\d+) = (\d+) warehouse connections", text
    )
    assert (w, p1, a, p2) == (workers, pool_size, apis, pool_size)
    assert total == workers * pool_size + apis * pool_size
    assert numbers(r"(\d+) runs executing at once", text) == [workers * concurrency]
    a, checkpoints, api_queue, w, checkpoints2, c, extra, total = numbers(
        rf"(\d+) {TIMES} \((\d+) \+ (\d+)\) \+ (\d+) {TIMES} \((\d+) \+ (\d+) \+ (\d+)\) = "
        r"(\d+) Postgres connections",
        text,
    )
    assert (a, w, c) == (apis, workers, concurrency)
    assert checkpoints == checkpoints2 == PG_POOL_MAX_SIZE
    assert (api_queue, extra) == (API_QUEUE_POOL_MAX, QUEUE_POOL_EXTRA)
    assert total == apis * (checkpoints + api_queue) + workers * (checkpoints + c + extra)
    max_connections = int(flag(services["postgres"]["command"], "-c").split("=")[1])
    assert total < max_connections, "the compose file's Postgres takes its own processes"


def test_k8s_references_resolve() -> None:
    documents = k8s_documents()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    for container in sophia_containers():
        for source in container["envFrom"]:
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in by_kind["ConfigMap"]
            else:
                assert source["secretRef"]["name"] in by_kind["Secret"]  # the example
    for service in by_kind["Service"].values():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in by_kind["Deployment"].values())  # fmt: skip
    for hpa in by_kind["HorizontalPodAutoscaler"].values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind["Deployment"]
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource


def test_the_image_has_every_package() -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f"!{package}" in ignore, package
    assert "uv sync --frozen --no-dev" in dockerfile
