"""An audience execution at scale on the local stack, and the emulator's own rate for the same requests.

`python -m benchmarks.audience_fanout [--members N]` (and `make bench`, with 100,000 members):

1. The local stack starts (as `make run` does). N profiles (an email address and a first name each)
   and a static audience holding them are written straight into its emulator (BatchWriteItem), and a
   marketing email campaign is created and activated through the API.
2. `POST /im/executions/audience` starts the execution; the jobs function fans out, the delivery
   function sends. A thread watches the emulator's SES: the run ends when every member has received
   an email (or nothing arrives for two minutes). `seconds` runs from the request to the last email;
   `lost` is members who received nothing, `duplicated` emails beyond one per member.
3. Every AWS request the functions and the event source pollers made during the run was recorded
   (botocore's before-parameter-build event, per thread, in order). The same requests are then issued
   again, directly, against the same emulator from 16 threads: the claims go to a fresh copy of the
   executions table and the queue requests to fresh queues, so that nothing conflicts with the run;
   reads go to the same tables. `ratio_to_emulator` is the stack's emails per second over that rate:
   what the gateway, the functions and the pollers add to the AWS work itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3

from benchmarks import environment as env
from benchmarks.local_stack import Replayer
from local.stack import DEMO_CAMPAIGN

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
STALL_SECONDS = 120.0
REPLAY_THREADS = 16
# The replay issues this share of the recorded requests (the first ones of each kind, in order): a rate
# needs no hundred thousand sends twice.
REPLAY_SHARE = 0.1


@dataclass
class FanoutResult:
    members: int
    seconds: float = 0.0
    received: int = 0
    duplicated: int = 0
    emulator_emails: int = 0
    emulator_seconds: float = 0.0
    emulator_errors: int = 0
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def emulator_per_second(self) -> float:
        return self.emulator_emails / self.emulator_seconds if self.emulator_seconds else 0.0

    @property
    def ratio_to_emulator(self) -> float:
        rate = self.emulator_per_second
        return self.per_second / rate if rate else float("nan")

    def figures(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "seconds": round(self.seconds, 1),
            "per_second": round(self.per_second, 1),
            "emulator_per_second": round(self.emulator_per_second, 1),
            "ratio_to_emulator": round(self.ratio_to_emulator, 3),
            "lost": self.members - self.received,
            "duplicated": self.duplicated,
        }


# The demo campaign of `make run`, as a marketing one (its code comes from the execution's context).
MARKETING_CAMPAIGN: dict[str, Any] = {**DEMO_CAMPAIGN, "name": "Audience benchmark", "type": "marketing"}


# ---------------------------------------------------------------------------
# Seeding the audience straight into the emulator
# ---------------------------------------------------------------------------
def _address(run: str, index: int) -> str:
    return f"m{index}-{run}@example.com"


def seed_audience(run: str, members: int) -> str:
    """Writes `members` profiles and a static audience of them through the store (the stack's
    environment points it at the emulator); the audience's id."""
    from campaign_engine.settings import get_settings
    from campaign_engine.store import _dynamodb, audiences, people

    audience_id = f"bench-{run}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    audiences.put_audience(
        audiences.AudienceHead(
            audience_id=audience_id,
            name="Benchmark audience",
            kind="static",
            created_at=now,
            updated_at=now,
            member_count=members,
        )
    )
    addresses = [_address(run, index) for index in range(members)]
    profiles = [
        {
            "PutRequest": {
                "Item": {
                    **people.profile_key("email", address),
                    **people.to_item(
                        {
                            "namespace": "email",
                            "id": address,
                            "email": address,
                            "attributes": {"firstName": FIRST_NAMES[index % len(FIRST_NAMES)]},
                            "source": "import",
                            "createdAt": now,
                            "updatedAt": now,
                        }
                    ),
                }
            }
        }
        for index, address in enumerate(addresses)
    ]
    _dynamodb.batch_write(get_settings().profiles_table, profiles)
    audiences.put_members(audience_id, [("email", address) for address in addresses], added_at=now)
    return audience_id


# ---------------------------------------------------------------------------
# Recording the run's AWS requests
# ---------------------------------------------------------------------------
Call = tuple[float, str, str, dict[str, Any]]  # (when, service, operation, parameters)


class Recorder:
    """Every request botocore builds in this process while on, per thread, in order."""

    def __init__(self) -> None:
        self.on = False
        self.calls: dict[int, list[Call]] = defaultdict(list)
        self._lock = threading.Lock()

    def install(self) -> None:
        # Clients copy their session's event handlers when they are made: register before the stack's
        # functions make theirs (boto3's default session, which boto3.client uses).
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION._session.register("before-parameter-build", self._record)  # type: ignore[union-attr]

    def watch(self, client: Any) -> None:
        """Records a client made elsewhere (by its own session) too."""
        client.meta.events.register("before-parameter-build", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on:
            return
        call = (
            time.monotonic(),
            model.service_model.service_name,
            model.name,
            json.loads(json.dumps(params, default=str)),
        )
        with self._lock:
            self.calls[threading.get_ident()].append(call)

    def chunks(self) -> list[list[Call]]:
        """Each thread's requests, cut before each ReceiveMessage (a poller's next batch) and every 50."""
        out: list[list[Call]] = []
        for calls in self.calls.values():
            chunk: list[Call] = []
            for call in calls:
                if chunk and (call[2] == "ReceiveMessage" or len(chunk) >= 50):
                    out.append(chunk)
                    chunk = []
                chunk.append(call)
            if chunk:
                out.append(chunk)
        out.sort(key=lambda chunk: chunk[0][0])
        return out


def replay(
    moto_url: str, chunks: list[list[Call]], tables: dict[str, str], queues: dict[str, str]
) -> tuple[int, float, int]:
    """(emails, seconds, errors) for issuing the recorded requests again against the emulator."""
    from local.emulator import aws_client

    clients = {s: aws_client(s, moto_url) for s in ("dynamodb", "sqs", "sesv2", "sns")}
    executions = tables["executions"]
    copy = f"{executions}-replay-{time.time_ns():x}"
    described = clients["dynamodb"].describe_table(TableName=executions)["Table"]
    clients["dynamodb"].create_table(
        TableName=copy,
        KeySchema=described["KeySchema"],
        AttributeDefinitions=described["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_urls = {
        url: clients["sqs"].create_queue(QueueName=f"{name}-replay-{time.time_ns():x}")["QueueUrl"]
        for name, url in queues.items()
    }
    chunks = [c for c in chunks if any(call[1] in clients for call in c)]
    chunks = chunks[: max(1, round(len(chunks) * REPLAY_SHARE))]
    emails = sum(1 for chunk in chunks for call in chunk if call[2] == "SendEmail")
    replayer = Replayer(clients)

    def rewrite(params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        if out.get("TableName") == executions:
            out["TableName"] = copy
        if "RequestItems" in out:
            out["RequestItems"] = {(copy if t == executions else t): v for t, v in out["RequestItems"].items()}
        if out.get("QueueUrl") in queue_urls:
            out["QueueUrl"] = queue_urls[out["QueueUrl"]]
        if "WaitTimeSeconds" in out:
            out["WaitTimeSeconds"] = 0
        return out

    def run(chunk: list[Call]) -> None:
        handles: list[str] = []
        for _, service, operation, recorded in chunk:
            if service not in clients:
                continue
            params = rewrite(recorded)
            if operation in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
                if not handles:
                    continue
                entries = params.get("Entries", [])[: len(handles)]
                params["Entries"] = [{**e, "ReceiptHandle": h} for e, h in zip(entries, handles, strict=False)]
                handles = handles[len(entries) :]
            elif operation in ("DeleteMessage", "ChangeMessageVisibility"):
                if not handles:
                    continue
                params["ReceiptHandle"] = handles.pop(0)
            handles += replayer.issue(service, operation, params)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=REPLAY_THREADS) as pool:
        list(pool.map(run, chunks))
    seconds = time.monotonic() - start
    clients["dynamodb"].delete_table(TableName=copy)
    for url in queue_urls.values():
        clients["sqs"].delete_queue(QueueUrl=url)
    return emails, seconds, replayer.errors


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
def run(members: int = 100_000, log: Any = None) -> FanoutResult:
    from benchmarks.local_stack import _Watcher
    from local import Stack

    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    recorder = Recorder()
    recorder.install()
    result = FanoutResult(members=members)
    run_id = f"{time.time_ns():x}"[-10:]
    with env.quiet_stdout(), Stack(port=0, moto_port=0) as stack:
        import os

        environment = os.environ  # the stack's functions' environment, pointed at its emulator
        # The event source pollers' receives and deletes are the run's requests too (one client serves them all).
        for client in {id(p._sqs): p._sqs for p in stack.pollers}.values():
            recorder.watch(client)
        tables = {
            "profiles": environment["PROFILES_TABLE"],
            "audiences": environment["AUDIENCES_TABLE"],
            "executions": environment["EXECUTIONS_TABLE"],
        }
        queues = {"delivery": environment["DELIVERY_QUEUE_URL"], "jobs": environment["JOBS_QUEUE_URL"]}
        say(f"audience fan-out: seeding {members} profiles and members")
        audience_id = seed_audience(run_id, members)
        campaign_id = stack.seed_demo(MARKETING_CAMPAIGN)
        wanted = {_address(run_id, i) for i in range(members)}
        watcher = _Watcher()
        watcher.start()
        say("audience fan-out: executing")
        recorder.on = True
        started = time.monotonic()
        status, _, answer = stack.request(
            "POST",
            "/im/executions/audience",
            {"campaignId": campaign_id, "audience": {"id": audience_id}, "context": {"code": "BENCH"}},
        )
        if status != 202:
            raise RuntimeError(f"POST /im/executions/audience answered {status}: {answer}")
        _wait(watcher, wanted, say)
        recorder.on = False
        watcher.stop()
        arrivals = [watcher.seen[a] for a in wanted if a in watcher.seen]
        result.received = len(arrivals)
        result.duplicated = watcher.duplicates
        result.seconds = (max(arrivals) - started) if arrivals else 0.0
        chunks = recorder.chunks()
        for chunk in chunks:
            for _, service, operation, _ in chunk:
                result.requests[f"{service}:{operation}"] = result.requests.get(f"{service}:{operation}", 0) + 1
        say(f"audience fan-out: {result.received} received in {result.seconds:.0f} s; replaying on the emulator")
        emails, seconds, errors = replay(stack.moto_url, chunks, tables, queues)
        # The replay issued a share of the requests: its rate is per email it sent.
        result.emulator_emails, result.emulator_seconds, result.emulator_errors = emails, seconds, errors
    return result


def _wait(watcher: Any, wanted: set[str], say: Any) -> None:
    last, since, reported = -1, time.monotonic(), time.monotonic()
    while True:
        count = len(wanted & watcher.seen.keys())
        if count >= len(wanted):
            return
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            return
        if time.monotonic() - reported > 30:
            say(f"audience fan-out: {count} of {len(wanted)} received")
            reported = time.monotonic()
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audience_fanout", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args(argv)
    result = run(args.members)
    print(json.dumps({**result.figures(), "requests": result.requests}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
