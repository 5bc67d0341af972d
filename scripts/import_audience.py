"""Import a CSV into a static audience through the public API, 1,000 rows a call, resumable.

    python -m scripts.import_audience people.csv --name "Spring list"        # creates the audience
    python -m scripts.import_audience people.csv --audience <id>             # adds to an existing one
    make import-audience CSV=people.csv NAME="Spring list"                   # the same

The base URL and API key (scope profiles:write) come from --base-url / --api-key or the
environment's BASE and KEY (as `make run` prints them).

Columns: `namespace` and `id` (the identity; both required), then optionally the profile:
`email`, `phone`, `preferredLanguage`, `timezone`, `consent_email`, `consent_sms`, `consent_push`
(in | out) and `attr.<name>` for free attributes - `attr.person.firstName` nests, and a type
suffix makes a number or a boolean (`attr.score:number`, `attr.vip:boolean`; text otherwise). An
empty cell leaves that field alone; a row with any profile column set merges it into the stored
profile (the API's member `profile`).

Every row the API acknowledges moves a progress file beside the CSV (`<csv>.progress`: the last
acknowledged line), so an interrupted import (Ctrl-C, a lost connection, a failing call) resumes
where it stopped when run again: resending a chunk is harmless, as adding a member twice is.
A bad row - found here, or refused by the API - is reported with its line number and not sent;
the import goes on with the others, and exits 1 if there was any. --restart ignores the progress
file."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

CHUNK = 1000
NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
PROFILE_COLUMNS = {"email": "email", "phone": "phone", "preferredLanguage": "preferredLanguage", "timezone": "timezone"}
CONSENT_COLUMNS = {"consent_email": "email", "consent_sms": "sms", "consent_push": "push"}
ATTRIBUTE_COLUMN = re.compile(r"^attr\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)(?::(text|number|boolean))?$")
# Transient failures (5xx, 429, the network) are tried this many times before the import stops.
ATTEMPTS = 5
TRUE, FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


class ImportFailed(Exception):
    """The import cannot go on (its progress is saved: run it again to resume)."""


# ---------------------------------------------------------------------------
# The API, over HTTP (or anything that answers like it: the tests' in-process API)
# ---------------------------------------------------------------------------
class Transport(Protocol):
    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]: ...


class TransientError(Exception):
    """A call that may succeed when tried again."""


def http_transport(base_url: str, api_key: str, timeout: float = 60.0) -> Transport:
    if not base_url.startswith(("http://", "https://")):
        raise ImportFailed(f"the base URL must start with http:// or https://, not {base_url!r}")

    def send(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (http or https: checked above)
            base_url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )
        try:
            # bandit B310: http(s) only, checked above
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"detail": text.decode(errors="replace")[:500]}
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransientError(str(error)) from error

    return send


def call(transport: Transport, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """The answer, after retrying transient failures with backoff."""
    for attempt in range(ATTEMPTS):
        try:
            status, answer = transport(method, path, body)
        except TransientError as error:
            status, answer = 0, {"detail": str(error)}
        if status not in {0, 429} and status < 500:
            return status, answer
        if attempt < ATTEMPTS - 1:
            time.sleep(min(0.5 * 2**attempt, 8.0))
    raise ImportFailed(f"{method} {path} kept failing: {status or 'no answer'} {_detail(answer)}")


def _detail(answer: Any) -> str:
    return str(answer.get("detail", "")) if isinstance(answer, dict) else str(answer)[:200]


# ---------------------------------------------------------------------------
# Rows -> members
# ---------------------------------------------------------------------------
@dataclass
class Row:
    line: int
    member: dict[str, Any]


@dataclass
class BadRow:
    line: int
    problem: str


def check_columns(columns: list[str]) -> None:
    missing = [name for name in ("namespace", "id") if name not in columns]
    unknown = [
        name
        for name in columns
        if name not in ("namespace", "id")
        and name not in PROFILE_COLUMNS
        and name not in CONSENT_COLUMNS
        and not ATTRIBUTE_COLUMN.match(name)
    ]
    if missing or unknown:
        problems = [f"lacks {', '.join(missing)}"] if missing else []
        problems += [f"has unknown {', '.join(unknown)}"] if unknown else []
        raise ImportFailed(
            f"the CSV's header {'; '.join(problems)}"
            + " (columns: namespace, id, email, phone, preferredLanguage, timezone, consent_email, consent_sms, "
            "consent_push, attr.<name>[:number|:boolean])"
        )


def _typed(value: str, kind: str | None, column: str) -> Any:
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{column}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{column}: {value!r} is not a number")
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind == "boolean":
        lowered = value.lower()
        if lowered not in TRUE | FALSE:
            raise ValueError(f"{column}: {value!r} is not true or false")
        return lowered in TRUE
    return value


def _profile(record: dict[str, str]) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for column, value in record.items():
        if value == "" or column in ("namespace", "id"):
            continue
        if column in PROFILE_COLUMNS:
            profile[PROFILE_COLUMNS[column]] = value
        elif column in CONSENT_COLUMNS:
            if value not in ("in", "out"):
                raise ValueError(f"{column}: must be in or out, not {value!r}")
            profile.setdefault("consents", {})[CONSENT_COLUMNS[column]] = value
        else:
            found = ATTRIBUTE_COLUMN.match(column)
            assert found is not None  # nosec B101  # check_columns saw to it
            *parents, leaf = found.group(1).split(".")
            node = profile.setdefault("attributes", {})
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = _typed(value, found.group(2), column)
    return profile


def to_member(record: dict[str, Any]) -> dict[str, Any]:
    """The API's member for a CSV record; ValueError naming the column at fault."""
    namespace, member_id = (record.get("namespace") or "").strip(), record.get("id") or ""
    if not NAMESPACE.match(namespace):
        raise ValueError(f"namespace: {namespace!r} is not a namespace (email, phone, ecid, or letters and digits)")
    if not member_id.strip() or member_id != member_id.strip():
        raise ValueError("id: is empty, or starts or ends with spaces")
    member: dict[str, Any] = {"namespace": namespace, "id": member_id}
    profile = _profile(record)
    if profile:
        member["profile"] = profile
    return member


def read_rows(stream: TextIO, after_line: int) -> Iterator[Row | BadRow]:
    """The CSV's rows after `after_line`, each with the line it starts on (a quoted cell may span
    lines): a Row, or a BadRow saying what is wrong with it. Blank lines are skipped."""
    reader = csv.reader(stream)
    header = next(reader, [])
    check_columns(header)
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if start <= after_line or not cells:
            continue
        if len(cells) > len(header):
            yield BadRow(start, f"has {len(cells)} cells, the header {len(header)} columns")
            continue
        try:
            yield Row(start, to_member(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))))
        except ValueError as error:
            yield BadRow(start, str(error))


# ---------------------------------------------------------------------------
# Progress: the last acknowledged line, beside the CSV
# ---------------------------------------------------------------------------
@dataclass
class Progress:
    path: Path
    audience_id: str | None = None
    line: int = 0  # every row up to this line is acknowledged (or reported bad)
    rows: int = 0
    added: int = 0
    bad: int = 0
    fingerprint: str = ""  # of the CSV's header, so that a resume reads the same file
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Progress:
        if not path.exists():
            return cls(path)
        saved = json.loads(path.read_text())
        return cls(
            path,
            audience_id=saved.get("audienceId"),
            line=int(saved.get("line", 0)),
            rows=int(saved.get("rows", 0)),
            added=int(saved.get("added", 0)),
            bad=int(saved.get("bad", 0)),
            fingerprint=str(saved.get("fingerprint", "")),
        )

    def save(self) -> None:
        state = {
            "audienceId": self.audience_id,
            "line": self.line,
            "rows": self.rows,
            "added": self.added,
            "bad": self.bad,
            "fingerprint": self.fingerprint,
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(temporary, self.path)  # never half-written, even if killed here


def fingerprint(csv_path: Path) -> str:
    with csv_path.open("rb") as stream:
        return hashlib.sha256(stream.readline()).hexdigest()[:16]


# ---------------------------------------------------------------------------
# The progress bar (no dependency): on a terminal it redraws one line, elsewhere it logs
# ---------------------------------------------------------------------------
class Bar:
    def __init__(self, total: int, done: int, out: TextIO) -> None:
        self.total, self.done, self.out = max(total, 1), done, out
        self.started, self.first = time.monotonic(), done
        self.tty = out.isatty()
        self.last_logged = 0.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if not self.tty and now - self.last_logged < 2 and done < self.total:
            return
        self.last_logged = now
        share = min(done / self.total, 1.0)
        rate = (done - self.first) / max(now - self.started, 1e-6)
        eta = (self.total - done) / rate if rate > 0 else 0
        bar = "#" * int(share * 30) + "." * (30 - int(share * 30))
        minutes, seconds = divmod(int(eta), 60)
        text = f"[{bar}] {share:6.1%} {done:,}/{self.total:,} rows  {rate:,.0f}/s  ETA {minutes}:{seconds:02}"
        self.out.write(("\r" + text) if self.tty else text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


def count_rows(csv_path: Path) -> int:
    with csv_path.open(newline="", encoding="utf-8-sig") as stream:
        return sum(1 for cells in csv.reader(stream) if cells) - 1


# ---------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------
@dataclass
class Importer:
    csv_path: Path
    transport: Transport
    out: TextIO
    chunk: int = CHUNK
    bad_rows: list[BadRow] = field(default_factory=list)

    def report(self, bad: BadRow) -> None:
        self.bad_rows.append(bad)
        self.out.write(f"{self.csv_path.name}: line {bad.line}: {bad.problem}\n")

    def ensure_audience(self, progress: Progress, audience_id: str | None, name: str | None) -> str:
        if progress.audience_id and audience_id and audience_id != progress.audience_id:
            raise ImportFailed(
                f"{progress.path.name} records an import into audience {progress.audience_id}; "
                "use --restart to start over into another"
            )
        if progress.audience_id:
            return progress.audience_id
        if audience_id:
            return audience_id
        status, answer = call(self.transport, "POST", "/audiences", {"name": name or self.csv_path.stem})
        if status != 201:
            raise ImportFailed(f"creating the audience: {status} {_detail(answer)}")
        self.out.write(f"created audience {answer['id']} ({answer['name']})\n")
        return str(answer["id"])

    def send(self, audience_id: str, rows: list[Row]) -> tuple[list[Row], dict[str, Any]]:
        """Sends one chunk; rows the API refuses are reported and the rest sent again. (rows sent, answer)"""
        path = f"/audiences/{audience_id}/members"
        while rows:
            status, answer = call(self.transport, "POST", path, {"members": [row.member for row in rows]})
            if status == 200:
                return rows, answer
            refused = _refused_rows(status, answer, rows)
            if not refused:
                raise ImportFailed(f"POST {path}: {status} {_detail(answer)}")
            for index in sorted(refused):
                self.report(BadRow(rows[index].line, refused[index]))
            rows = [row for i, row in enumerate(rows) if i not in refused]
        return [], {}

    def run(self, progress: Progress, audience_id: str) -> None:
        bar = Bar(count_rows(self.csv_path), progress.rows + progress.bad, self.out)
        first_bad, bad_before = progress.bad, len(self.bad_rows)

        def acknowledge(sent: list[Row], answer: dict[str, Any], last_line: int) -> None:
            """Every line up to `last_line` is sent and acknowledged, or reported bad."""
            progress.rows += len(sent)
            progress.added += int(answer.get("added", 0))
            reported = self.bad_rows[bad_before:]
            progress.bad = first_bad + sum(1 for bad in reported if bad.line <= last_line)
            progress.line = last_line
            progress.save()
            bar.update(progress.rows + progress.bad)

        pending: list[Row] = []
        last_line = progress.line
        with self.csv_path.open(newline="", encoding="utf-8-sig") as stream:
            for row in read_rows(stream, progress.line):
                last_line = row.line
                if isinstance(row, BadRow):
                    self.report(row)
                    continue
                pending.append(row)
                if len(pending) == self.chunk:
                    acknowledge(*self.send(audience_id, pending), last_line)
                    pending = []
        acknowledge(*self.send(audience_id, pending), last_line)
        bar.close()


def _refused_rows(status: int, answer: Any, rows: list[Row]) -> dict[int, str]:
    """index in the chunk -> why, from a 400's field errors (members[3].profile.email: ...)."""
    if status != 400 or not isinstance(answer, dict):
        return {}
    refused: dict[int, str] = {}
    for error in answer.get("errors") or []:
        found = re.match(r"^members\[(\d+)\](?:\.(.*))?$", str(error.get("field", "")))
        if found and int(found.group(1)) < len(rows):
            where = found.group(2) or "member"
            refused.setdefault(int(found.group(1)), f"{where}: {error.get('message', 'is not valid')}")
    return refused


def import_csv(
    csv_path: Path,
    transport: Transport,
    *,
    audience_id: str | None = None,
    name: str | None = None,
    restart: bool = False,
    out: TextIO | None = None,
    chunk: int = CHUNK,
) -> tuple[Progress, list[BadRow]]:
    """Imports (or resumes importing) the CSV; its progress and the bad rows found in this run."""
    progress_path = csv_path.with_name(csv_path.name + ".progress")
    progress = Progress(progress_path) if restart else Progress.load(progress_path)
    if progress.fingerprint and progress.fingerprint != fingerprint(csv_path):
        raise ImportFailed(f"{progress_path.name} is for a CSV with another header; use --restart to start over")
    out = out or sys.stderr
    with csv_path.open(newline="", encoding="utf-8-sig") as stream:
        check_columns(next(csv.reader(stream), []))  # before anything is created
    importer = Importer(csv_path, transport, out, chunk)
    progress.audience_id = importer.ensure_audience(progress, audience_id, name)
    progress.fingerprint = fingerprint(csv_path)
    if progress.line:
        out.write(f"resuming after line {progress.line} ({progress.rows:,} rows acknowledged)\n")
    progress.save()
    importer.run(progress, progress.audience_id)
    return progress, importer.bad_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="import_audience", description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, help="the CSV file (UTF-8, with a header row)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--audience", help="id of an existing static audience to add to")
    target.add_argument("--name", help="create a static audience of this name (default: the file's name)")
    parser.add_argument("--base-url", default=os.environ.get("BASE"), help="the API's base URL (env BASE)")
    parser.add_argument("--api-key", default=os.environ.get("KEY"), help="an API key with profiles:write (env KEY)")
    parser.add_argument("--restart", action="store_true", help="ignore the progress file and start from the top")
    args = parser.parse_args(argv)
    if not args.base_url or not args.api_key:
        parser.error("give --base-url and --api-key (or set BASE and KEY)")
    if not args.csv.is_file():
        parser.error(f"{args.csv} is not a file")
    try:
        progress, bad = import_csv(
            args.csv,
            http_transport(args.base_url, args.api_key),
            audience_id=args.audience,
            name=args.name,
            restart=args.restart,
        )
    except ImportFailed as error:
        print(f"error: {error} (run the same command again to resume)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    print(
        f"audience {progress.audience_id}: {progress.rows:,} rows sent, {progress.added:,} new members, "
        f"{progress.bad:,} bad rows" + (" (listed above)" if bad else "")
    )
    return 1 if progress.bad else 0


if __name__ == "__main__":
    sys.exit(main())
