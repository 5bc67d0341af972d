"""Pacing on the local stack, over HTTP: a scheduled audience execution started by `POST /_local/tick`
once it is due, and delivered to the audience's inbox."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from local import Stack
from tests.e2e.conftest import stack_progress, wait_for


def _ok(answer: Any, status: int) -> Any:
    got, _, body = answer
    assert got == status, body
    return body


def test_tick_starts_a_due_scheduled_audience_execution(local_stack: Stack) -> None:
    person = f"tick-{uuid.uuid4().hex[:8]}"
    address = f"{person}@example.com"
    _ok(local_stack.request("PUT", f"/profiles/crm/{person}", {"email": address, "consents": {"email": "in"}}), 200)
    audience = _ok(
        local_stack.request("POST", "/audiences", {"name": "Tick", "members": [{"namespace": "crm", "id": person}]}),
        201,
    )
    campaign = _ok(
        local_stack.request(
            "POST",
            "/campaigns",
            {
                "name": "Scheduled newsletter",
                "type": "marketing",
                "channel": "email",
                "audience": {"namespace": "crm", "audienceId": audience["id"]},
                "sender": {"fromEmail": "news@example.com"},
                "content": {
                    "defaultLocale": "en-US",
                    "locales": {"en-US": {"subject": f"News for {person}", "html": "<p>News</p>"}},
                },
            },
        ),
        201,
    )
    _ok(local_stack.request("POST", f"/campaigns/{campaign['id']}/activate"), 200)

    # Scheduled a few seconds ahead
    execute_at = datetime.now(UTC) + timedelta(seconds=3)
    scheduled = _ok(
        local_stack.request(
            "POST",
            "/im/executions/audience",
            {
                "campaignId": campaign["id"],
                "audience": {"id": audience["id"]},
                "schedule": {"executeAt": execute_at.isoformat()},
            },
        ),
        202,
    )
    schedule_path = f"/im/executions/schedules/{scheduled['scheduleId']}"
    assert _ok(local_stack.request("GET", schedule_path), 200)["status"] == "scheduled"

    # Before it is due, a tick leaves it alone; once due, a tick starts it
    _ok(local_stack.request("POST", "/_local/tick"), 200)
    if datetime.now(UTC) < execute_at:
        assert _ok(local_stack.request("GET", schedule_path), 200)["status"] == "scheduled"
    time.sleep(max(0.0, (execute_at - datetime.now(UTC)).total_seconds()) + 0.2)
    ticked = _ok(local_stack.request("POST", "/_local/tick"), 200)
    assert ticked["failed"] == []
    started = _ok(local_stack.request("GET", schedule_path), 200)
    assert started["status"] == "started"
    execution_id = started["executionId"]

    def inbox() -> list[dict[str, Any]]:
        items = _ok(local_stack.request("GET", "/_local/outbox"), 200)["items"]
        return [item for item in items if item.get("to") in (address, [address])]

    sent = wait_for(inbox, progress=stack_progress(local_stack))
    assert [item["subject"] for item in sent] == [f"News for {person}"]
    status = wait_for(
        lambda: _ok(local_stack.request("GET", f"/im/executions/{execution_id}"), 200),
        until=lambda body: [r["status"] for r in body["recipients"]] == ["sent"],
        progress=stack_progress(local_stack),
    )
    assert status["recipients"][0]["userId"] == person
    # Ticking again starts nothing twice
    _ok(local_stack.request("POST", "/_local/tick"), 200)
    assert len(inbox()) == 1
