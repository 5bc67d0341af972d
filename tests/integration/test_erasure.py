"""DELETE /profiles/{namespace}/{id} erases the person: the profile at once, the address in clear
of their suppression entries at once (the entries still suppress), then, through the jobs function,
their ids in execution records (replaced by a pseudonym) and their static audience memberships."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from campaign_engine import erasure
from campaign_engine.store import audiences, people
from local import harness
from local.template import REGION
from tests.conftest import Api, HttpAnswer, Queue, invoke
from tests.integration.test_feedback import send

ADA = {"namespace": "crm", "profileId": "cust-42"}
ADA_EMAIL, ADA_PHONE, ADA_TOKEN = "ada@example.com", "+14155550100", "740f4707bebcf74f9b7c25d48e3358945f6aa01d"


def put_ada(api: Api) -> None:
    body = {
        "email": ADA_EMAIL,
        "phone": ADA_PHONE,
        "pushTokens": [{"appID": "com.example.app", "platform": "apns", "token": ADA_TOKEN}],
        "attributes": {"firstName": "Ada"},
    }
    assert api.call("api", "api/put_profile.json", body=body, path_params=ADA).status == 200


def erase(api: Api, params: dict[str, str] = ADA, scopes: str | None = None) -> HttpAnswer:
    return api.call("api", "api/delete_profile.json", path_params=params, scopes=scopes)


def jobs_queue() -> list[dict[str, Any]]:
    return (
        boto3.client("sqs", region_name=REGION)
        .receive_message(QueueUrl=os.environ["JOBS_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0)
        .get("Messages", [])
    )


def run_jobs(rounds: int = 200) -> int:
    """Runs the jobs function on the jobs queue, as its event source mapping would, until it is empty;
    returns how many steps ran. Its context has 30 s left, under the 60 s margin: one page a step."""
    client, url = boto3.client("sqs", region_name=REGION), os.environ["JOBS_QUEUE_URL"]
    for steps in range(rounds):
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return steps
        result = invoke("jobs", harness.sqs_event(messages, harness.queue_arn(url)))
        assert result == {"batchItemFailures": []}
        harness.delete_processed(client, url, messages, set())
    raise AssertionError("the jobs queue never emptied")


def table_text(table: str) -> str:
    """Every item of a table, as text (to look for an address anywhere in it)."""
    client = boto3.client("dynamodb", region_name=REGION)
    items: list[Any] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return json.dumps(items)


def test_erasing_a_person_removes_them_everywhere_and_keeps_their_addresses_suppressed(api: Api, queue: Queue) -> None:
    # Given Ada's profile, her address suppressed, a static audience, and a message sent to her and to Bruna
    put_ada(api)
    sent = send(api, queue, ADA_EMAIL, "bruna@example.com")
    before = sent.status()
    assert before[ADA_EMAIL]["status"] == "sent"
    listed = api.call(
        "api",
        "api/add_suppressions.json",
        body={"entries": [{"channel": "email", "address": ADA_EMAIL}, {"channel": "push", "address": ADA_TOKEN}]},
    )
    assert listed.status == 200
    audiences.put_members("aud-1", [("crm", "cust-42"), ("crm", "cust-43"), ("email", ADA_EMAIL)], added_at="x")

    # When Ada is erased
    answer = erase(api, scopes="profiles:write")

    # Then her profile is gone at once, and her addresses are still suppressed, without being kept in clear
    assert answer.status == 202, answer.body
    assert answer.body == {"namespace": "crm", "id": "cust-42", "erasure": "in_progress", "profileFound": True}
    assert api.call("api", "api/get_profile.json", path_params=ADA).status == 404
    assert (
        api.call("api", "api/get_suppression.json", path_params={"channel": "email", "address": ADA_EMAIL}).status
        == 200
    )
    for channel, address in (("email", ADA_EMAIL), ("push", ADA_TOKEN)):
        entry = people.get_suppression(channel, address)
        assert entry is not None
        assert "address" not in entry, entry
    assert ADA_EMAIL not in table_text(os.environ["PROFILES_TABLE"])

    # and once the jobs function has run, no execution record or audience holds her
    assert ADA_EMAIL in table_text(os.environ["EXECUTIONS_TABLE"])  # (the job's work, not the call's)
    assert run_jobs() >= 2
    assert ADA_EMAIL not in table_text(os.environ["EXECUTIONS_TABLE"])
    after = sent.status()
    [alias] = set(after) - set(before)
    assert alias.startswith("erased:")
    assert len(alias) == len("erased:") + 12
    assert after[alias]["status"] == "sent"
    assert after[alias]["messageId"] == before[ADA_EMAIL]["messageId"]
    assert after["bruna@example.com"] == before["bruna@example.com"]
    assert sent.counts() == {"total": 2, "sent": 2}
    members = audiences.member_page("aud-1", limit=100)
    assert members.members == [("crm", "cust-43")]


def test_erasing_needs_profiles_write(api: Api) -> None:
    put_ada(api)
    assert erase(api, scopes="campaigns:write").status == 403
    assert api.call("api", "api/get_profile.json", path_params=ADA).status == 200
    assert jobs_queue() == []


def test_a_person_known_only_by_their_records_is_erased_too(api: Api, queue: Queue) -> None:
    # Given a message to an address in the email namespace, with no profile stored (the trigger created
    # one, as createProfiles is on by default: it is removed, as by a campaign with createProfiles off)
    sent = send(api, queue, ADA_EMAIL)
    assert people.delete_profile("email", ADA_EMAIL) is not None
    entries = {"entries": [{"channel": "email", "address": ADA_EMAIL}]}
    assert api.call("api", "api/add_suppressions.json", body=entries).status == 200

    answer = erase(api, {"namespace": "email", "profileId": ADA_EMAIL})

    assert answer.status == 202
    assert answer.body["profileFound"] is False
    assert "address" not in (people.get_suppression("email", ADA_EMAIL) or {"address": "missing"})
    run_jobs()
    assert ADA_EMAIL not in table_text(os.environ["EXECUTIONS_TABLE"])
    [(alias, recipient)] = sent.status().items()
    assert alias.startswith("erased:")
    assert recipient["status"] == "sent"


def test_a_bad_identity_erases_nothing(api: Api) -> None:
    answer = erase(api, {"namespace": "crm", "profileId": "x" * 300})
    assert answer.status == 400
    assert "profileId" in {e["field"] for e in answer.body["errors"]}
    assert jobs_queue() == []


def test_the_erasure_step_stops_for_time_and_resumes_from_its_checkpoint(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Ada in a few executions among others, and a step that reads two items a page
    put_ada(api)
    executions = [send(api, queue, ADA_EMAIL, f"other{i}@example.com") for i in range(3)]
    erasure.start("crm", "cust-42")
    [message] = jobs_queue()
    job: dict[str, Any] = json.loads(message["Body"])
    monkeypatch.setattr(erasure, "SCAN_PAGE", 2)
    assert ADA_EMAIL in table_text(os.environ["EXECUTIONS_TABLE"])

    # When each step has time for one page only, and its continuation goes through JSON as queued
    out_of_time: Callable[[], int] = lambda: 0  # noqa: E731
    steps, cursors = 0, []
    while job is not None:
        steps += 1
        assert steps < 500, "the erasure never ends"
        next_job = erasure.erasure_step(job, out_of_time)
        if next_job is not None:
            cursors.append(next_job["cursor"])
            next_job = json.loads(json.dumps(next_job))
        job = next_job  # type: ignore[assignment]

    # Then it took many steps, each resuming where the previous one stopped, and Ada is erased
    assert steps > 5
    assert len({json.dumps(c) for c in cursors if c}) == len([c for c in cursors if c])  # never the same page twice
    assert ADA_EMAIL not in table_text(os.environ["EXECUTIONS_TABLE"])
    for sent in executions:
        statuses = sent.status()
        assert sum(user.startswith("erased:") for user in statuses) == 1
        assert len(statuses) == 2


def test_a_step_with_time_left_finishes_in_one_run(api: Api, queue: Queue) -> None:
    put_ada(api)
    send(api, queue, ADA_EMAIL)
    erasure.start("crm", "cust-42")
    [message] = jobs_queue()
    assert erasure.erasure_step(json.loads(message["Body"]), lambda: 10_000) is None
    assert ADA_EMAIL not in table_text(os.environ["EXECUTIONS_TABLE"])
