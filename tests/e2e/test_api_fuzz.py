"""Schemathesis against the OpenAPI document the local stack serves: no 5xx, every error a
problem+json with a `code`, every answer as the document describes it.

Cases come from three of schemathesis's phases: its coverage phase (deterministic boundary and
negative cases for every parameter and body field, and methods no route has), its fuzzing phase
(Hypothesis, positive and negative data, a fixed seed), and its stateful phase, which follows the
document's OpenAPI links (routes/meta.py: POST /campaigns -> GET, PATCH, review, activate... of
/campaigns/{campaignId}; a trigger -> its execution's status; POST /audiences -> its members; PUT
a profile -> GET and DELETE it) in scenarios of several calls, each using ids the last answers
gave. The fuzzing phase calls real campaigns (a draft per operation, a live one for the trigger)
so that bodies reach validation, rendering and the trigger's verdicts instead of stopping at 404.

A failing case is recorded, not raised, so that one run reports every distinct failure (with a
cURL to reproduce it) instead of the first one shrunk; the test fails at the end if any was found.

Size: about 3,300 cases (360 of them in 60 stateful scenarios, 110-odd calls through links) in
60-75 s on two shared cores, printed at the end; reproducible (a fixed seed for the fuzzing phase,
derandomized scenarios). For a deeper local run, SCHEMATHESIS_EXAMPLES raises the fuzzing phase's
examples per operation and mode (120: about 5,000 cases, 5 minutes), SCHEMATHESIS_SCENARIOS the
stateful scenarios, and SCHEMATHESIS_SEED picks other fuzzing cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.stateful
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local import DEMO_CAMPAIGN, Stack

SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261201"))
EXAMPLES_PER_MODE = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
# Stateful phase: scenarios, and calls at most in each (a scenario starts at an operation that no link
# leads to, e.g. POST /campaigns, and follows links from there).
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "100"))
STEPS_PER_SCENARIO = 6
REQUEST_TIMEOUT_S = 20  # a hang is a failure, not a stuck build
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

# API Gateway's own answers, given before any function runs; an HTTP API cannot reshape them
# (it has no gateway responses), so they are the only errors allowed not to be problem+json.
# 401: no Authorization header, or an empty one (the authorizer's identity source is missing).
# 404: no route has this method and path.  413: over the 10 MB payload quota.
GATEWAY_ANSWERS = {401: "Unauthorized", 404: "Not Found", 413: "Request Entity Too Large"}


def problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every error is application/problem+json naming a stable `code` (contract: Errors)."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if case.path.startswith("/t/") and media_type == "text/html":
        return None  # tracking links are opened by people in mail clients: a plain page, as documented
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if (
        media_type == "application/json"
        and body == {"message": GATEWAY_ANSWERS.get(response.status_code)}
        and (response.status_code != 401 or not _authorization(response.request.headers).strip())
    ):
        return None
    assert media_type == "application/problem+json", f"{response.status_code} answered as {media_type!r}"
    assert isinstance(body, dict), "the problem is not a JSON object"
    code = body.get("code")
    assert isinstance(code, str), "the problem has no `code`"
    assert code, "the problem's `code` is empty"
    assert body.get("status") == response.status_code, f"problem status {body.get('status')!r}"
    return None


def _authorization(headers: Any) -> str:
    return next((str(value) for name, value in headers.items() if name.lower() == "authorization"), "")


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    problem_details,
]
# Not checked: schemathesis's positive_data_acceptance. The document cannot say every rule (a
# schedule that ends before it starts, a nextToken this API never issued), and those get a
# documented 400 problem naming the field; status_code_conformance still holds them to that.


@dataclass
class Findings:
    cases: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    linked: int = 0  # stateful calls whose parameters came from an earlier answer through a link

    def run(self, case: schemathesis.Case, session: requests.Session) -> schemathesis.Response | None:
        self.cases[case.operation.label] += 1
        try:
            response = case.call(session=session, timeout=REQUEST_TIMEOUT_S)
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            failures: Iterable[Failure] = group.exceptions
            for failure in failures:
                self.failures.setdefault((case.operation.label, failure.title), str(group))
        except requests.RequestException as error:  # a hang (timeout) or a dropped connection
            self.failures.setdefault((case.operation.label, type(error).__name__), f"{error}\n{case.as_curl_command()}")
            return None
        return response


@pytest.fixture(autouse=True)
def _no_frequency_caps_left(local_stack: Stack) -> Iterator[None]:
    """The fuzzing sets frequency caps across campaigns (PUT /rules/frequency): the e2e tests after it,
    which send marketing messages to the same people more than once, must not inherit them."""
    yield
    status, _, body = local_stack.request("PUT", "/rules/frequency", {})
    assert status == 200, body


@pytest.fixture(scope="module")
def fixtures_for_paths(local_stack: Stack) -> dict[str, Any]:
    """Real resources, so that fuzzed bodies and queries get past 404 to what they test."""
    live = local_stack.seed_demo()
    status, _, answer = local_stack.request(
        "POST", "/im/executions/unitary", {"campaignId": live, "recipients": [{"userId": "x@example.com"}]}
    )
    assert status == 202, answer
    return {"live": live, "executionId": answer["executionId"]}


def new_draft(stack: Stack) -> str:
    status, _, created = stack.request("POST", "/campaigns", DEMO_CAMPAIGN)
    assert status == 201, created
    return str(created["id"])


def test_the_served_openapi_document_holds_under_schemathesis(
    local_stack: Stack, fixtures_for_paths: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": local_stack.base_url,
            "request-timeout": REQUEST_TIMEOUT_S,
            # Unknown query parameters are ignored, as the contract ignores unknown headers.
            "generation": {"database": "none", "allow-extra-parameters": True},
            "auth": {"openapi": {"bearer": {"bearer": local_stack.api_key}}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{local_stack.base_url}/openapi.json", config=config)

    @schema.hook
    def map_body(context: schemathesis.HookContext, body: Any) -> Any:
        # The trigger names its campaign in the body: the fuzzing phase triggers the live one.
        # A campaignId that schemathesis made invalid stays as it is: the case is about that.
        is_trigger = context.operation is not None and context.operation.path == "/im/executions/unitary"
        campaign_id = body.get("campaignId") if isinstance(body, dict) else None
        if is_trigger and isinstance(campaign_id, str) and 1 <= len(campaign_id) <= 128:
            return {**body, "campaignId": fixtures_for_paths["live"]}
        return body

    findings = Findings()
    session = requests.Session()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        # Coverage phase: its cases are a fixed list; the ids in them are made up (404s).
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        for case in schema.iter_coverage_cases(operation, generation_modes=list(MODES), generation_config=generation):
            findings.run(case, session)

        # Fuzzing phase, on real resources.
        path_parameters = {}
        if "{campaignId}" in operation.path:
            path_parameters["campaignId"] = new_draft(local_stack)
        if "{executionId}" in operation.path:
            path_parameters["executionId"] = fixtures_for_paths["executionId"]
        for mode in MODES:

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=EXAMPLES_PER_MODE,
                database=None,
                deadline=None,
                phases=[Phase.generate],  # failures are recorded, not raised: nothing to shrink
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def fuzz(case: schemathesis.Case) -> None:
                findings.run(case, session)

            with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (GET /im/health)
                fuzz()

    stateful_cases = run_stateful_phase(schema, findings, session)

    elapsed = time.monotonic() - started
    total = sum(findings.cases.values())
    with capsys.disabled():
        print(
            f"\nschemathesis: {total} cases over {len(operations)} operations in {elapsed:.0f} s (seed {SEED}),"
            f" {stateful_cases} of them in {SCENARIOS} stateful scenarios, {findings.linked} through OpenAPI links"
        )
    assert total >= 1000, f"only {total} cases ran: the document or the generation lost operations"
    # Some scenarios start at an operation no link leaves (health, tracking, rules): at least 60 calls in all.
    assert findings.linked >= 60, f"only {findings.linked} calls followed a link: the document lost its links"
    report = "\n".join(f"==== {label}: {title}\n{detail}" for (label, title), detail in findings.failures.items())
    assert not findings.failures, f"{len(findings.failures)} distinct failures:\n{report}"


class _Unanswered(Exception):
    pass


def run_stateful_phase(schema: Any, findings: Findings, session: requests.Session) -> int:
    """Scenarios that follow the document's links; failures are recorded as in the other phases.
    Derandomized: the same document and versions give the same scenarios on every run."""
    before = sum(findings.cases.values())

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> StepOutput:
            if input.is_applied:
                findings.linked += 1
            response = findings.run(input.case, session)
            if response is None:  # a hang or a dropped connection, recorded: the scenarios stop there
                raise _Unanswered(input.case.operation.label)
            return StepOutput(response, input.case)

    with contextlib.suppress(_Unanswered):
        hypothesis.stateful.run_state_machine_as_test(
            Scenarios,
            settings=hypothesis.settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS_PER_SCENARIO,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    return sum(findings.cases.values()) - before
