"""Checks the Kubernetes files under deploy/ (kubernetes/ and kserve/) against Kubernetes' own
schemas and against the binary they run.

    python3 tests/kubernetes/validate.py target/debug/aiaas

- Every object of a core kind (Deployment, Service, ConfigMap, Secret) validates, strictly (no
  unknown field), against the Kubernetes 1.37 OpenAPI schemas kubernetes-validate ships.
- kustomization.yaml names every file, and every object is in one of them.
- Each aiaas container runs the image of this version (Cargo.toml), `serve` with flags that
  `aiaas serve --help` lists and a --role it takes; its ports are the ones --addr and --grpc-addr
  name; its probes ask /v2/health/live and /v2/health/ready on the HTTP port; each AIAAS_*
  variable it gets (its env, the ConfigMap, the Secret) is one the binary reads.
- Services and the ServiceMonitor select pods that exist, on ports those pods name.
- The KServe ServingRuntime's container passes the same checks, imports the model KServe puts
  in /mnt/models under the InferenceService's name, and serves the formats and the V2 protocol
  the example InferenceService asks for.
"""

import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KSERVE = ROOT / "deploy" / "kserve"
KUBERNETES = "1.37.0"
# Read by the binary but not `serve` flags: the log filter, and object_store's S3 settings.
OTHER_VARIABLES = {"AIAAS_LOG"}


def fail(message):
    print(f"deploy/kubernetes: {message}", file=sys.stderr)
    sys.exit(1)


def load():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    if listed != files:
        fail(f"kustomization.yaml lists {sorted(listed)}, the directory holds {sorted(files)}")
    objects = []
    for name in sorted(files):
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc is not None:
                objects.append((name, doc))
    return objects


def serve_help(binary):
    text = subprocess.run([binary, "serve", "--help"], check=True, capture_output=True,
                          text=True).stdout
    flags = set(re.findall(r"(--[a-z0-9-]+)", text))
    variables = set(re.findall(r"env: (AIAAS_[A-Z0-9_]+)", text))
    # Clap lists each value of --role as "- name: what it does" under "Possible values:".
    role = text[text.index("--role <ROLE>"):]
    role = role[:role.index("[env: AIAAS_ROLE")]
    roles = set(re.findall(r"^\s+- ([a-z]+):", role, re.M))
    return flags, variables, roles


def version():
    cargo = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_container(where, container, flags, variables, roles, config_keys):
    image = f"aiaas:{version()}"
    if container["image"] != image:
        fail(f"{where}: image {container['image']}, the binary is {image}")
    args = container["args"]
    if args[0] != "serve":
        fail(f"{where}: runs {args[0]!r}, not serve")
    given = {}
    for i, arg in enumerate(args[1:], 1):
        if arg.startswith("--"):
            if arg not in flags:
                fail(f"{where}: aiaas serve has no {arg}")
            given[arg] = args[i + 1] if i + 1 < len(args) else None
    role = given.get("--role", "all")
    if role not in roles:
        fail(f"{where}: --role {role}; the binary takes {sorted(roles)}")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    if ports.get("http") != port_of(given["--addr"]):
        fail(f"{where}: port http {ports.get('http')}, --addr {given['--addr']}")
    if given.get("--grpc-addr") and ports.get("grpc") != port_of(given["--grpc-addr"]):
        fail(f"{where}: port grpc {ports.get('grpc')}, --grpc-addr {given['--grpc-addr']}")
    if (role == "worker" or given.get("--grpc-addr") == "") and "grpc" in ports:
        fail(f"{where}: a worker serves no gRPC")
    for probe, path in [("livenessProbe", "/v2/health/live"), ("readinessProbe", "/v2/health/ready")]:
        get = container[probe]["httpGet"]
        if get["path"] != path or get["port"] != "http":
            fail(f"{where}: {probe} asks {get}, not {path} on http")
    names = [e["name"] for e in container.get("env", [])] + config_keys
    for name in names:
        if name.startswith("AIAAS_") and name not in variables | OTHER_VARIABLES:
            fail(f"{where}: aiaas serve reads no {name}")


def check_kserve(flags, variables, roles):
    docs = {}
    for path in sorted(KSERVE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    runtime, service = docs["ServingRuntime"], docs["InferenceService"]
    if runtime["apiVersion"] != "serving.kserve.io/v1alpha1":
        fail(f"ServingRuntime is {runtime['apiVersion']}, not serving.kserve.io/v1alpha1")
    [container] = runtime["spec"]["containers"]
    if container["name"] != "kserve-container":
        fail("KServe runs the container named kserve-container")
    check_container("kserve/servingruntime.yaml", container, flags, variables, roles, [])
    args = container["args"]
    if args[args.index("--import") + 1] != "{{.Name}}=/mnt/models":
        fail("the runtime must import /mnt/models as {{.Name}}")
    predictor = service["spec"]["predictor"]["model"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    if predictor["modelFormat"]["name"] not in formats or predictor["runtime"] != runtime["metadata"]["name"]:
        fail("the InferenceService does not ask for this runtime and one of its formats")
    if predictor["protocolVersion"] not in runtime["spec"]["protocolVersions"]:
        fail(f"the runtime does not speak {predictor['protocolVersion']}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "aiaas")
    flags, variables, roles = serve_help(binary)
    if not roles:
        fail("aiaas serve --help names no --role values")
    objects = load()
    for name, obj in objects:
        if obj["apiVersion"] in ("v1", "apps/v1"):
            try:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(f"{name}: {obj['kind']} {obj['metadata']['name']}: {e.message} at {list(e.path)}")
    config_keys = [k for _, o in objects if o["kind"] == "ConfigMap" for k in o["data"]]
    config_keys += [k for _, o in objects if o["kind"] == "Secret" for k in o["stringData"]]
    pods = {}
    for name, obj in objects:
        if obj["kind"] != "Deployment":
            continue
        template = obj["spec"]["template"]
        labels = template["metadata"]["labels"]
        if obj["spec"]["selector"]["matchLabels"].items() - labels.items():
            fail(f"{name}: the Deployment's selector does not match its pods")
        ports = set()
        for container in template["spec"]["containers"]:
            where = f"{name}: {obj['metadata']['name']}/{container['name']}"
            check_container(where, container, flags, variables, roles, config_keys)
            ports |= {p["name"] for p in container["ports"]}
        pods[obj["metadata"]["name"]] = (labels, ports)

    def selected(selector):
        return [p for p, (labels, _) in pods.items() if selector.items() <= labels.items()]

    services = {}
    for name, obj in objects:
        if obj["kind"] == "Service":
            chosen = selected(obj["spec"]["selector"])
            if not chosen:
                fail(f"{name}: Service {obj['metadata']['name']} selects no pods")
            for port in obj["spec"]["ports"]:
                for pod in chosen:
                    if port["targetPort"] not in pods[pod][1]:
                        fail(f"{name}: {pod} has no port {port['targetPort']}")
            services[obj["metadata"]["name"]] = obj
        if obj["kind"] == "ServiceMonitor":
            selector = obj["spec"]["selector"]["matchLabels"]
            chosen = [s for s in services.values()
                      if selector.items() <= s["metadata"]["labels"].items()]
            if not chosen:
                fail(f"{name}: the ServiceMonitor selects no Service")
            for endpoint in obj["spec"]["endpoints"]:
                if endpoint["path"] != "/metrics":
                    fail(f"{name}: the ServiceMonitor scrapes {endpoint['path']}, not /metrics")
                for service in chosen:
                    if endpoint["port"] not in {p["name"] for p in service["spec"]["ports"]}:
                        fail(f"{name}: Service {service['metadata']['name']} has no port {endpoint['port']}")
    check_kserve(flags, variables, roles)
    kinds = sorted({o["kind"] for _, o in objects})
    print(f"deploy/kubernetes: {len(objects)} objects ({', '.join(kinds)}) valid for Kubernetes "
          f"{KUBERNETES} and for {binary}; deploy/kserve: the ServingRuntime runs it as KServe asks")


main()
