"""Concurrent trigger callers, in a process of their own so they take no CPU from the stack under test.

`python -m benchmarks.loadgen BASE_URL KEY CAMPAIGN_ID RUN EMAILS CONCURRENCY` sends EMAILS calls of
one recipient each from CONCURRENCY threads and prints one JSON document: per call the recipient's
address, when the request was sent and answered (time.monotonic(), which is CLOCK_MONOTONIC and so
comparable across processes on Linux), and the status.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.environment import trigger_body
from local import client


def call(base_url: str, key: str, campaign_id: str, request_id: str) -> dict[str, Any]:
    body = trigger_body(campaign_id, request_id, 1)
    address = json.loads(body)["recipients"][0]["userId"]
    sent = time.monotonic()
    try:
        status, _, _ = client.request(base_url, "POST", "/im/executions/unitary", body=body, key=key, timeout=60)
    except OSError as error:
        status = -1
        print(f"loadgen: {request_id}: {error}", file=sys.stderr)
    return {"address": address, "sent": sent, "answered": time.monotonic(), "status": status}


def main(argv: list[str]) -> int:
    base_url, key, campaign_id, run, emails, concurrency = argv
    with ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
        calls = list(pool.map(lambda n: call(base_url, key, campaign_id, f"{run}-{n}"), range(int(emails))))
    json.dump(calls, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
