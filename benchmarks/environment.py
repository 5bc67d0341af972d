"""What every benchmark shares: the template, the process environment, the functions, the campaign, events.

Functions run in this process through the harness the tests and the local stack share
(local/harness.py): the handler of functions/<name>/app.py is called with the JSON events of
events/, under the environment template.yaml gives the function. AWS is never reached:
benchmarks.fake_aws answers at botocore's HTTP layer, and local_stack.py runs the embedded
emulator instead.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess  # nosec B404  # starts this interpreter on the benchmark's own modules
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local.harness import FUNCTIONS, ROOT, api_event, lambda_context, load_event, load_function
from local.template import REGION, Function, Template

# Fake credentials: requests are signed (SigV4 is part of every request's cost) but never leave the process.
CREDENTIALS = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "benchmark")
# Variables that would send boto3 somewhere else than the fake.
_UNSAFE = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def run_python(arguments: list[str], *, what: str, timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    """A child interpreter (a cold start, the load generator); fails with the end of its standard error."""
    done = subprocess.run(  # nosec B603  # sys.executable with the benchmark's own arguments
        [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, check=False, **options
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def function_folders() -> list[str]:
    """Every function of the repository, by folder name (functions/<name>/app.py)."""
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def function_spec(tpl: Template, folder: str) -> Function:
    """The template's function whose CodeUri is functions/<folder>/."""
    for spec in tpl.functions().values():
        if spec.code_uri.rstrip("/").split("/")[-1] == folder:
            return spec
    raise LookupError(f"template.yaml has no function with CodeUri functions/{folder}/")


def process_environment(tpl: Template) -> dict[str, str]:
    """The template's environment (the union every local process uses), a region and fake credentials.

    X-Ray is off for in-process runs (as in the local stack): with no daemon and no Lambda trace
    header the SDK only logs errors. Cold starts (cold_start.py) measure it on, as deployed."""
    return {
        **tpl.environment(),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **CREDENTIALS,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def prepare_process(tpl: Template) -> None:
    """Sets this process up like a warm Lambda container of any function (one shared environment)."""
    for name in list(os.environ):
        if name in _UNSAFE or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    os.environ.update(process_environment(tpl))
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)  # as deployed: every invocation flushes its metrics


def campaign_body() -> dict[str, Any]:
    """The sample campaign of events/api/create_campaign.json: two locales, a contextSchema."""
    return json.loads(load_event("api/create_campaign.json")["body"])


def create_live_campaign() -> str:
    """Creates and activates the sample campaign through the api function; its id."""
    api = load_function("api")
    created = api.handler(api_event("api/create_campaign.json", body=campaign_body()), lambda_context("api"))
    if created["statusCode"] != 201:
        raise RuntimeError(f"create campaign answered {created['statusCode']}: {created.get('body')}")
    campaign_id = json.loads(created["body"])["id"]
    activated = api.handler(
        api_event("api/activate_campaign.json", path_params={"campaignId": campaign_id}), lambda_context("api")
    )
    if activated["statusCode"] != 200:
        raise RuntimeError(f"activate answered {activated['statusCode']}: {activated.get('body')}")
    return str(campaign_id)


def recipients(count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` distinct recipients shaped like those of events/trigger/unitary.json (half en-US, half pt-BR)."""
    sample = json.loads(load_event("trigger/unitary.json")["body"])["recipients"]
    out = []
    for i in range(count):
        recipient = copy.deepcopy(sample[i % len(sample)])
        address = f"{prefix}-{i}@example.com"
        recipient["userId"] = address
        if "channelData" in recipient:
            recipient["channelData"]["emailAddress"] = address
        recipient["context"]["orderId"] = str(10_000 + i)
        out.append(recipient)
    return out


def trigger_body(campaign_id: str, request_id: str, count: int, people: str | None = None) -> str:
    """`count` recipients new to the stack, or with `people` the same ones every time that prefix is given."""
    body = json.loads(load_event("trigger/unitary.json")["body"])
    body["requestId"] = request_id
    body["campaignId"] = campaign_id
    body["recipients"] = recipients(count, people or request_id)
    return json.dumps(body)


def trigger_event(campaign_id: str, request_id: str, count: int, people: str | None = None) -> dict[str, Any]:
    """POST /im/executions/unitary as API Gateway hands it over, with `count` recipients."""
    return api_event("trigger/unitary.json", raw_body=trigger_body(campaign_id, request_id, count, people))


@contextmanager
def quiet_stdout(sink: str = os.devnull) -> Iterator[None]:
    """Sends file descriptor 1 (Powertools logs and EMF metrics, as Lambda ships them) to `sink`."""
    sys.stdout.flush()
    saved = os.dup(1)
    target = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.dup2(target, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(target)
