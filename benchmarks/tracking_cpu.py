"""CPU per click of the tracking function, warm, against what a click cannot go below.

A tracked marketing campaign is created through the api function; recipients it was sent to are
recorded as delivery records them (state `sent`, a message id), and their click tokens are made by the
product's own signing code. The product: the tracking function's handler on API Gateway events of
`GET /t/c/{token}` with a browser's User-Agent, each a person's first click (the recipient is
marked, moved to `clicked`, the report counted), the campaign version already cached as a warm
container has it. AWS is answered by the in-process fake, frozen (every round finds the same state).

The floor, through the same fake and clients: one HMAC-SHA256 over the token (checking a signature
is the least a signed link costs) and the very AWS calls the click made, recorded and replayed.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import time
from typing import Any

from botocore import xform_name

from benchmarks import environment as env
from benchmarks.cpu import Figure, _interleaved, _record, _timed, client
from benchmarks.workload import Workload
from local import harness

SECRET = {"current": "k1", "k1": "b" * 48}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SALE = "https://shop.example.com/sale?utm_source=news"


def _tracked_campaign() -> dict[str, Any]:
    body = {
        **env.campaign_body(),
        "name": "Tracked news",
        "type": "marketing",
        "contextSchema": None,
        "tracking": {"opens": True, "clicks": True},
        "content": {
            "defaultLocale": "en-US",
            "locales": {"en-US": {"subject": "News", "html": f'<p>Hello</p><p><a href="{SALE}">Sale</a></p>'}},
        },
    }
    api = harness.load_function("api")
    created = api.handler(harness.api_event("api/create_campaign.json", body=body), harness.lambda_context("api"))
    campaign = json.loads(created["body"])
    api.handler(
        harness.api_event("api/activate_campaign.json", path_params={"campaignId": campaign["id"]}),
        harness.lambda_context("api"),
    )
    from campaign_engine import store

    version = store.get_campaign_version(campaign["id"], 1)
    if version is None:
        raise RuntimeError(f"the campaign has no version: {created}")
    return version


def _clicks(work: Workload, campaign: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` recipients recorded as sent, and the API Gateway event of a click on each one's link."""
    from campaign_engine.store._dynamodb import recipient_key
    from campaign_engine.tracking import keys, tokens

    table = os.environ["EXECUTIONS_TABLE"]
    execution_id = "bench-tracking-execution"
    sample = harness.load_event("tracking/click.json")
    events = []
    for i in range(count):
        user_id = f"reader-{i}@example.com"
        work.fake.put(
            table,
            {
                **recipient_key(execution_id, user_id),
                "executionId": {"S": execution_id},
                "userId": {"S": user_id},
                "campaignId": {"S": campaign["id"]},
                "requestId": {"S": "bench"},
                "state": {"S": "sent"},
                "messageId": {"S": f"0100019-{i:08d}"},
                "locale": {"S": "en-US"},
                "claimedAt": {"N": str(round(time.time() - 3600, 3))},
                "updatedAt": {"S": "2026-12-01T08:00:00Z"},
            },
        )
        token = tokens.sign(
            keys.key_ring(),
            tokens.Token(
                "c", campaign["id"], campaign["version"], "en-US", execution_id, int(time.time()) - 3600,
                tokens.Recipient(user_id, "email"), link=0,
            ),
        )  # fmt: skip
        event = copy.deepcopy(sample)
        path = f"/t/c/{token}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["pathParameters"] = {"token": token}
        event["headers"]["user-agent"] = event["requestContext"]["http"]["userAgent"] = BROWSER
        events.append(event)
    return events


def tracking_figure(work: Workload, *, iterations: int, rounds: int) -> Figure:
    secret_name = os.environ["TRACKING_KEYS_SECRET"].rpartition(":secret:")[2]
    work.fake.secrets[secret_name] = json.dumps(SECRET)
    campaign = _tracked_campaign()
    events = _clicks(work, campaign, iterations)
    module = harness.load_function("tracking")
    context = harness.lambda_context("tracking")

    def click(event: dict[str, Any]) -> None:
        answer = module.handler(event, context)
        if answer["statusCode"] != 302 or answer["headers"]["location"] != SALE:
            raise RuntimeError(f"a click answered {answer['statusCode']}: {answer.get('body')}")

    with work.frozen():
        click(events[0])  # warm: the secret read, the campaign version cached
        calls = _record(work, lambda: click(events[0]))
        bound = [(getattr(client(s), xform_name(op)), params) for s, op, params in calls]
        mac_key = b"k" * 32
        token = events[0]["pathParameters"]["token"]

        def product() -> int:
            for event in events:
                click(event)
            return iterations

        def floor() -> int:
            for _ in range(iterations):
                hmac.new(mac_key, token.encode(), hashlib.sha256).digest()
                for method, params in bound:
                    method(**params)
            return iterations

        (ms, samples), (floor_ms, _) = _interleaved(lambda: _timed(product), lambda: _timed(floor), rounds)
    return Figure(ms, floor_ms, samples)


def run(work: Workload, *, quick: bool = False) -> Figure:
    return tracking_figure(work, iterations=50 if quick else 300, rounds=3 if quick else 5)
