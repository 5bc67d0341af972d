"""Cold start per function, in fresh processes, against importing boto3 and creating its clients.

Each run is a new interpreter laid out as Lambda lays a function out: the function's folder as the
task root (without bytecode, as `sam build` packs it), the core layer on the path as `sam build`
makes it (layers/core/Makefile: compiled, since Lambda's /opt is read-only and nothing compiled
there at run time is kept), run with -B (nothing is written), the dependencies compiled as pip
installs them, and the function's environment from template.yaml plus what the Lambda runtime sets. X-Ray is on, as
`Tracing: Active` has it in AWS.

Measured inside the process, from before the first import to after the clients exist: importing
app.py (which builds its logger, metrics and whatever else it builds at import) and creating the boto3
clients the function's IAM policies let it use, through campaign_engine.aws as a first invocation would.
For the api, whose cold start is the console's first request (issue #16), the figure goes on to that
request: GET /console/index.html (events/api/console_asset.json) answered through the handler, so that
whatever its import leaves to a first request is counted whenever that request needs it (INIT_REQUESTS).
The floor is the same process doing only `import boto3` and creating those clients. CPU time of
the process (user + system) is the figure, the median of several runs; wall time is reported too.

`first_request()` measures the api's other first request apart: a cold api answering GET /campaigns
(its validating resolver, the campaigns router and a DynamoDB read on an in-process fake), in ms of
CPU, reported as `init_first_request_ms.api` beside the ratio.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess  # nosec B404  # runs make, a fixed command, to build a layer
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import environment as env
from local import harness

PREAMBLE = "import time\nt0, c0 = time.perf_counter(), time.process_time()\n"
RESULT = "\nprint(time.perf_counter() - t0, time.process_time() - c0)\n"
FUNCTION_BODY = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
import boto3
try:
    from campaign_engine import aws
except ImportError:
    aws = None
for service in filter(None, sys.argv[2].split(",")):
    factory = getattr(aws, service, None)
    factory() if callable(factory) else boto3.client(service)
"""
# What the handler reads of the runtime's context object (argv[4]: the function's name).
CONTEXT_CLASS = """
class Context:
    function_name, memory_limit_in_mb, aws_request_id = sys.argv[4], 1024, "00000000-0000-4000-8000-000000000001"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[4]
    def get_remaining_time_in_millis(self):
        return 30000
"""
# A function whose cold start is a first request (events/<file>, argv[3]): it is answered through the handler
# after the clients exist, and counted in the function's figure (never in the floor's).
INIT_REQUESTS = {"api": "api/console_asset.json"}
REQUEST_BODY = (
    CONTEXT_CLASS
    + """
import json
with open(sys.argv[3]) as file:
    event = json.load(file)
answer = module.handler(event, Context())
assert answer["statusCode"] == 200, answer
"""
)
FLOOR_BODY = """
import sys
import boto3
for service in filter(None, sys.argv[1].split(",")):
    boto3.client(service)
"""
# IAM action prefixes and SAM policy templates -> the boto3 client that uses them.
_ACTION_SERVICES = {
    "dynamodb": "dynamodb",
    "sqs": "sqs",
    "ses": "sesv2",
    "sns": "sns",
    "secretsmanager": "secretsmanager",
}
_POLICY_TEMPLATE_SERVICES = {"DynamoDB": "dynamodb", "SQS": "sqs", "SES": "sesv2", "SNS": "sns"}


@dataclass
class ColdStart:
    services: list[str]
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    floor_cpu_ms: list[float] = field(default_factory=list)
    floor_wall_ms: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.cpu_ms) / statistics.median(self.floor_cpu_ms)


def services_of(policies: list[Any]) -> list[str]:
    """The AWS clients a function may need, read from its IAM policies in template.yaml."""
    found: set[str] = set()
    for policy in policies or []:
        if not isinstance(policy, dict):
            continue
        for name, value in policy.items():
            if name == "Statement":
                for statement in value:
                    actions = statement.get("Action", [])
                    for action in [actions] if isinstance(actions, str) else actions:
                        service = _ACTION_SERVICES.get(str(action).split(":", 1)[0])
                        if service:
                            found.add(service)
            else:
                for prefix, service in _POLICY_TEMPLATE_SERVICES.items():
                    if name.startswith(prefix):
                        found.add(service)
    return sorted(found)


def _layout(root: Path, folder: str) -> tuple[Path, Path]:
    """A Lambda-like tree: task/ (the function, no bytecode: `sam build` leaves it out) and
    opt/python (the core layer as `sam build` makes it: its Makefile ships it compiled)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    task = root / folder / "task"
    layer = root / folder / "opt"
    shutil.copytree(harness.FUNCTIONS / folder, task, ignore=ignore)
    tpl = env.template()
    for uri in tpl.layer_dirs():
        source = harness.ROOT / uri
        logical_id = next(
            name
            for name, resource in tpl.resources.items()
            if resource.get("Type") == "AWS::Serverless::LayerVersion"
            and str(tpl.resolve(resource["Properties"]["ContentUri"])) == uri
        )
        build_method = (tpl.resources[logical_id].get("Metadata") or {}).get("BuildMethod")
        if build_method == "makefile":
            subprocess.run(  # nosec B603 B607  # make with fixed arguments, found on PATH as a developer's shell would
                ["make", "-s", "-f", str(source / "Makefile"), f"build-{logical_id}"],
                cwd=source,
                env={**os.environ, "ARTIFACTS_DIR": str(layer), "PYTHON": sys.executable},
                check=True,
                capture_output=True,
            )
        elif (source / "python").is_dir():
            shutil.copytree(source / "python", layer / "python", ignore=ignore, dirs_exist_ok=True)
        # A layer built from requirements (dependencies) comes from this interpreter's site-packages,
        # compiled as pip installs it, which is what `sam build` does for it too.
    return task, layer / "python"


def _environment(folder: str, task: Path, layer: Path) -> dict[str, str]:
    tpl = env.template()
    spec = env.function_spec(tpl, folder)
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **base,
        **spec.environment,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        **env.CREDENTIALS,
        "PYTHONPATH": f"{task}{os.pathsep}{layer}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "_HANDLER": spec.handler,
    }


def _run(code: str, args: list[str], environment: dict[str, str], cwd: Path) -> tuple[float, float]:
    done = env.run_python(["-B", "-c", code, *args], what="cold start", timeout=120, env=environment, cwd=cwd)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall) * 1000, float(cpu) * 1000


# The api's first API request on a cold container: init as above, then GET /campaigns with a key, answered by
# the in-process fake (benchmarks.fake_aws, installed before the clients exist; its own import and
# installation are taken out of the figure). Whatever init leaves to the first request counts here.
FIRST_REQUEST_BODY = (
    """
import json
t_fake, c_fake = time.perf_counter(), time.process_time()
from benchmarks.fake_aws import FakeAws
fake = FakeAws().installed()  # kept: a collected generator would uninstall it
fake.__enter__()
t_fake, c_fake = time.perf_counter() - t_fake, time.process_time() - c_fake
for service in filter(None, sys.argv[2].split(",")):
    factory = getattr(aws, service, None)
    factory() if callable(factory) else boto3.client(service)
"""
    + REQUEST_BODY
    + """
print(time.perf_counter() - t0 - t_fake, time.process_time() - c0 - c_fake)
"""
)
FIRST_REQUEST_SAMPLES = {"api": "api/list_campaigns.json"}


def first_request(*, quick: bool = False, folder: str = "api") -> list[float]:
    """CPU ms of a fresh process importing the handler and answering its first typical request."""
    runs = 2 if quick else 4
    body = FUNCTION_BODY.split("for service in", maxsplit=1)[0]
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        task, layer = _layout(Path(tmp), folder)
        environment = _environment(folder, task, layer)
        # benchmarks and local (for the fake and the event) after the function's own paths
        environment["PYTHONPATH"] += os.pathsep + str(harness.ROOT)
        spec = env.function_spec(env.template(), folder)
        policies = (env.template().resources[spec.logical_id].get("Properties") or {}).get("Policies") or []
        event = Path(tmp) / "event.json"
        event.write_text(json.dumps(harness.api_event(FIRST_REQUEST_SAMPLES[folder])))
        args = [str(task / "app.py"), ",".join(services_of(policies)), str(event), spec.name]
        cpu = [_run(PREAMBLE + body + FIRST_REQUEST_BODY, args, environment, task)[1] for _ in range(runs + 1)]
    return cpu[1:]


def _function_run(folder: str, task: Path, services: str, name: str, root: Path) -> tuple[str, list[str]]:
    """The code and arguments of one measured run of a function: its init, and its first request if its
    cold start is one (INIT_REQUESTS)."""
    args = [str(task / "app.py"), services]
    sample = INIT_REQUESTS.get(folder)
    if sample is None:
        return PREAMBLE + FUNCTION_BODY + RESULT, args
    event = root / folder / "init_request.json"
    if not event.exists():
        event.write_text(json.dumps(harness.api_event(sample)))
    return PREAMBLE + FUNCTION_BODY + REQUEST_BODY + RESULT, [*args, str(event), name]


def run(*, quick: bool = False, folders: list[str] | None = None, runs: int | None = None) -> dict[str, ColdStart]:
    runs = runs or (2 if quick else 6)
    tpl = env.template()
    folders = folders or env.function_folders()
    results: dict[str, ColdStart] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        root = Path(tmp)
        setups = {}
        for folder in folders:
            spec = env.function_spec(tpl, folder)
            policies = (tpl.resources[spec.logical_id].get("Properties") or {}).get("Policies") or []
            task, layer = _layout(root, folder)
            results[folder] = ColdStart(services_of(policies))
            setups[folder] = (task, layer, _environment(folder, task, layer))
        # One discarded round first (page cache), then rounds that alternate function and floor runs.
        for round_number in range(runs + 1):
            for folder in folders:
                task, layer, environment = setups[folder]
                services = ",".join(results[folder].services)
                code, args = _function_run(folder, task, services, env.function_spec(tpl, folder).name, root)
                wall, cpu = _run(code, args, environment, task)
                floor_wall, floor_cpu = _run(PREAMBLE + FLOOR_BODY + RESULT, [services], environment, task)
                if round_number:
                    result = results[folder]
                    result.wall_ms.append(wall)
                    result.cpu_ms.append(cpu)
                    result.floor_wall_ms.append(floor_wall)
                    result.floor_cpu_ms.append(floor_cpu)
    return results
