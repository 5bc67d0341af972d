"""The CSV import command over real HTTP against the local stack: killed after a chunk, run again,
it finishes without sending an acknowledged row twice."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from local import Stack
from scripts import import_audience


class Killed(Exception):
    pass


def test_the_import_command_resumes_over_http(local_stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    with source.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["namespace", "id", "email", "consent_email", "attr.tier", "attr.visits:number"])
        for i in range(2500):
            writer.writerow(["email", f"csv{i}@example.com", f"csv{i}@example.com", "in", "gold", str(i)])
        writer.writerow(["email", "broken@example.com", "not an email", "", "", ""])  # line 2502

    http = import_audience.http_transport(local_stack.base_url, local_stack.api_key)
    acknowledged = {"chunks": 0}

    def dies_after_one_chunk(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path.endswith("/members") and acknowledged["chunks"] == 1:
            raise Killed
        answer = http(method, path, body)
        acknowledged["chunks"] += path.endswith("/members")
        return answer

    with pytest.raises(Killed):
        import_audience.import_csv(source, dies_after_one_chunk, name="CSV over HTTP", out=io.StringIO())

    sent: list[str] = []

    def recording(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        sent.extend(member["id"] for member in body.get("members", []))
        return http(method, path, body)

    out = io.StringIO()
    progress, bad = import_audience.import_csv(source, recording, out=out)
    assert "resuming after line 1001" in out.getvalue()
    assert [b.line for b in bad] == [2502]
    assert sent[0] == "csv1000@example.com"  # the acknowledged chunk is not sent again
    assert (progress.rows, progress.bad) == (2500, 1)

    status, _, audience = local_stack.request("GET", f"/audiences/{progress.audience_id}")
    assert status == 200
    assert audience["memberCount"] == 2500
    assert audience["kind"] == "static"
    status, _, listed = local_stack.request("GET", "/audiences?limit=100")
    assert status == 200
    assert progress.audience_id in [a["id"] for a in listed["items"]]
