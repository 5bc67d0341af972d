"""A cold api container's first request is the console's: it serves the console's files without building
the validating resolver (nor importing it, Powertools' event handler or pydantic), and the first API
request after it validates and answers as it always has (functions/api/app.py, routes/by_path.py)."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # runs this interpreter on a fixed script
import sys
from pathlib import Path
from typing import Any

from local import harness
from local.template import Template
from tests.conftest import Api, load_event

ROOT = Path(__file__).resolve().parents[2]
# What only an API request needs: none of it may be imported, or built, to serve a console file.
RESOLVER_MODULES = (
    "campaign_engine.routes.resolver",
    "campaign_engine.models",
    "aws_lambda_powertools.event_handler",
    "pydantic",
)

# A fresh interpreter laid out as the api function's container: the function's folder and the core layer
# on the path, nothing else of the repository. It prints what it answered and what it had imported.
COLD_CONTAINER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "api", 1024, "00000000-0000-4000-8000-000000000001"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    def get_remaining_time_in_millis(self):
        return 29000

modules = json.loads(sys.argv[3])
seen = []
for event in json.loads(sys.argv[4]):
    answer = app.handler(event, Context())
    seen.append({
        "status": answer["statusCode"],
        "type": answer["headers"].get("Content-Type"),
        "body": answer["body"] if "json" in answer["headers"].get("Content-Type", "") else "",
        "imported": [name for name in modules if name in sys.modules],
        "resolver_built": app.app._app is not None,
    })
print(json.dumps(seen))
"""


def _cold_container(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    environment = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT") if name in os.environ
    }
    environment.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # nosec B105  # placeholder credentials: no AWS call is made
        POWERTOOLS_SERVICE_NAME="campaigns",
        POWERTOOLS_METRICS_NAMESPACE="TriggeredCampaigns",
    )
    done = subprocess.run(  # nosec B603  # this interpreter, a fixed script, arguments of ours
        [
            sys.executable,
            "-c",
            COLD_CONTAINER,
            str(ROOT / "functions" / "api"),
            str(ROOT / "layers" / "core" / "python"),
            json.dumps(RESOLVER_MODULES),
            json.dumps(events),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return answers


def _invalid_campaign() -> dict[str, Any]:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    body["chanel"] = "email"
    body["sender"]["fromEmail"] = "not-an-email"
    return harness.api_event("api/create_campaign.json", body=body)


def test_a_cold_container_serves_the_console_without_the_resolver_then_validates_as_before() -> None:
    console_page, console_folder, bad_campaign = _cold_container(
        [harness.api_event("api/console_asset.json"), harness.api_event("api/console_folder.json"), _invalid_campaign()]
    )
    for served in (console_page, console_folder):
        assert (served["status"], served["type"]) == (200, "text/html; charset=utf-8")
        assert served["imported"] == [], "a console file needed none of the resolver's modules"
        assert served["resolver_built"] is False
    # The first API request builds the resolver, which validates the body as it always has.
    assert bad_campaign["status"] == 400
    assert bad_campaign["type"] == "application/problem+json"
    fields = {error["field"] for error in json.loads(bad_campaign["body"])["errors"]}
    assert {"chanel", "sender.fromEmail"} <= fields
    assert bad_campaign["resolver_built"] is True
    assert set(bad_campaign["imported"]) == set(RESOLVER_MODULES)


def test_the_first_api_requests_after_the_console_answer_as_before(api: Api, aws_env: Template) -> None:
    """A container of its own (a fresh import of app.py), on the emulated AWS."""
    made = api.live_campaign()  # the sample lists live campaigns
    container = harness.load_function("api", container="console-first")

    def call(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        answer = container.handler(event, harness.lambda_context("api"))
        headers = {name.lower(): value for name, value in answer["headers"].items()}
        body = json.loads(answer["body"]) if "json" in headers.get("content-type", "") else answer["body"]
        return answer["statusCode"], headers, body

    status, headers, page = call(harness.api_event("api/console_asset.json"))
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "<html" in page.lower()
    assert container.app._app is None, "serving a console file built the resolver"
    assert container.app.loaded == set()

    status, headers, listed = call(harness.api_event("api/list_campaigns.json"))
    assert (status, headers["content-type"]) == (200, "application/json"), listed
    assert made["id"] in {campaign["id"] for campaign in listed["items"]}

    status, headers, problem = call(_invalid_campaign())
    assert (status, headers["content-type"]) == (400, "application/problem+json")
    assert {"chanel", "sender.fromEmail"} <= {error["field"] for error in problem["errors"]}

    status, _, _ = call(harness.api_event("api/list_campaigns.json", authorizer_context={"authenticated": False}))
    assert status == 401
