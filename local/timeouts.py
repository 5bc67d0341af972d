"""AWS-call timeouts, scaled for the emulator.

The functions' botocore clients carry timeouts tuned for AWS (campaign_engine.aws: a 5 s read for
DynamoDB and SQS, retried 4 times; 10 s for a send, never retried). The emulator is pure Python
and shares this process's CPU with every function and poller: on a slow or busy machine one
Query of a 1,000-recipient execution took it over 5 s, four times in a row, and the status route
answered 500 - an error AWS, answering in milliseconds, would not give. A send timing out that
way would even be recorded `send_unconfirmed`. So, while a stack runs, clients bound to its
emulator wait LOCAL_AWS_TIMEOUT_SCALE (10) times as long; clients of any other endpoint keep theirs.

They also keep up to POOL_CONNECTIONS connections to it instead of botocore's 10: a Lambda container
runs one invocation at a time, but here one "container" of each function serves every concurrent
invocation (16 trigger calls at once under make bench's load) with its one client, and a pool of
10 dropped each connection over that with a warning and opened a new one for the next call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from botocore.endpoint import EndpointCreator

DEFAULT_SCALE = 10.0
POOL_CONNECTIONS = 64


def scale_emulator_timeouts(emulator_url: str) -> Callable[[], None]:
    """Scales the timeouts (and the connection pool) of every client created from now on for
    `emulator_url`; returns the undo."""
    scale = float(os.environ.get("LOCAL_AWS_TIMEOUT_SCALE") or DEFAULT_SCALE)
    original = EndpointCreator.create_endpoint

    def create_endpoint(self: EndpointCreator, service_model: Any, *args: Any, **kw: Any) -> Any:
        endpoint_url = kw.get("endpoint_url", args[1] if len(args) > 1 else None)
        timeout = kw.get("timeout")
        if str(endpoint_url).rstrip("/") == emulator_url.rstrip("/"):
            if isinstance(timeout, tuple):
                kw["timeout"] = tuple(None if t is None else t * scale for t in timeout)
            if len(args) < 6:  # not given by position (botocore passes it by name)
                kw["max_pool_connections"] = max(kw.get("max_pool_connections") or 0, POOL_CONNECTIONS)
        return original(self, service_model, *args, **kw)

    EndpointCreator.create_endpoint = create_endpoint  # type: ignore[method-assign]

    def undo() -> None:
        EndpointCreator.create_endpoint = original  # type: ignore[method-assign]

    return undo
