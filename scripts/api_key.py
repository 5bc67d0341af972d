"""Create an API key: `python -m scripts.api_key create --name ci --scopes "campaigns:trigger reports:read"`.

The key is printed once and stored only as its SHA-256. Against the local stack, pass
`--endpoint-url http://127.0.0.1:5000 --table local-api-keys`; against AWS, `--stack-name`.

It writes to the keys table directly, with your AWS credentials: the way to the first admin key
of a new stack, or to a new one when every admin key is lost. Everything else about keys (list,
revoke, rotate) is the API's `/keys`, with an admin key."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from scripts.stack import resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="api_key", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--scopes", required=True, help="space- or comma-separated scopes (admin for all)")
    create.add_argument("--labels", help="comma-separated access labels; omit for every campaign")
    create.add_argument("--expires-at", help="when the key stops working (ISO-8601, 2027-06-01T00:00:00Z)")
    create.add_argument("--table", help="API keys table name")
    create.add_argument("--stack-name", help="deployed stack whose ApiKeysTableName output to use")
    create.add_argument("--endpoint-url", help="AWS endpoint, e.g. the local emulator http://127.0.0.1:5000")
    args = parser.parse_args(argv)

    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    os.environ["API_KEYS_TABLE"] = resolve(args.table, "API_KEYS_TABLE", args.stack_name, "ApiKeysTableName")
    from campaign_engine.auth import create_api_key

    scopes = [s for s in args.scopes.replace(",", " ").split() if s]
    labels = [s.strip() for s in args.labels.split(",") if s.strip()] if args.labels else None
    try:
        expires_at = _expiry(args.expires_at)
        key = create_api_key(args.name, scopes, labels=labels, expires_at=expires_at)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(key)
    print(f"# scopes: {' '.join(scopes)}. Stored hashed: this is the only time the key is shown.", file=sys.stderr)
    return 0


def _expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is None or at <= datetime.now(UTC):
        raise ValueError("--expires-at must be a time in the future with an offset, e.g. 2027-06-01T00:00:00Z")
    return at


if __name__ == "__main__":
    sys.exit(main())
