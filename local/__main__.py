"""`python -m local --port 3000` (what `make run` does): serve the whole API locally until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
import warnings
from pathlib import Path

from local.emulator import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from local.stack import REPO_ROOT, SeedError, Stack, demo_trigger
from local.template import REGION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000), help="API port")
    parser.add_argument(
        "--moto-port",
        type=int,
        default=int(os.environ.get("MOTO_PORT") or 5000),
        help="emulator port (a free one is taken when busy)",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="directory holding template.yaml")
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo campaign")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The emulator's per-request lines and boto3's credential notes would bury the access log.
    for noisy in ("werkzeug", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Metrics are disabled locally, yet Powertools still warns on each invocation that has none.
    warnings.filterwarnings("ignore", "No application metrics to publish")

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    stack = Stack(port=args.port, moto_port=args.moto_port, root=args.root)
    try:
        stack.start()
    except Exception as error:
        print(f"The local stack could not start: {error}", file=sys.stderr)
        return 1
    try:
        campaign_id = None
        if not args.no_demo:
            try:
                campaign_id = stack.seed_demo()
            except (SeedError, OSError) as error:
                print(f"The demo campaign was not seeded: {error}", file=sys.stderr)
        print(_banner(stack, campaign_id), flush=True)
        stop_requested.wait()
    finally:
        stack.stop()
    return 0


def _banner(stack: Stack, campaign_id: str | None) -> str:
    base, key = stack.base_url, stack.api_key
    aws = (
        f"AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY} AWS_DEFAULT_REGION={REGION} "
        f"aws --endpoint-url {stack.moto_url} dynamodb list-tables"
    )
    lines = [
        "",
        "Local stack ready (Ctrl-C stops it)",
        f"  API        {base}",
        f"  Emulator   {stack.moto_url}",
        f"             {aws}",
        f"  Admin key  {key}",
        "",
    ]
    if campaign_id:
        body = json.dumps(demo_trigger(campaign_id))
        lines += [
            "Trigger the demo campaign:",
            f"  curl -sS -X POST {base}/im/executions/unitary -H 'Authorization: Bearer {key}' "
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
            "",
        ]
    lines += ["See what was sent:", f"  curl -sS {base}/_local/outbox -H 'Authorization: Bearer {key}'", ""]
    lines += [
        f"Webhooks: point a campaign's webhook.url at {base}/_local/webhooks/<name>, then read what arrived:",
        f"  curl -sS {base}/_local/webhooks -H 'Authorization: Bearer {key}'",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
