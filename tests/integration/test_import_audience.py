"""scripts/import_audience.py against the API function in-process: people and membership in one
pass, bad rows reported by line, and an interrupted import that resumes where it stopped."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from campaign_engine.store import audiences as audience_store
from campaign_engine.store import people
from scripts import import_audience
from scripts.import_audience import ImportFailed, import_csv
from tests.conftest import Api


class InProcess:
    """The public API's two routes the import uses, answered by the real handler; records calls."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.calls: list[dict[str, Any]] = []

    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.calls.append({"method": method, "path": path, "body": body})
        if path == "/audiences":
            answer = self.api.call("api", "api/create_audience.json", body=body, scopes="profiles:write")
        else:
            audience_id = path.split("/")[2]
            answer = self.api.call(
                "api",
                "api/add_audience_members.json",
                body=body,
                path_params={"audienceId": audience_id},
                scopes="profiles:write",
            )
        return answer.status, answer.body


class Interrupted(Exception):
    pass


class DiesAfter(InProcess):
    """Acknowledges `chunks` member calls, then the next one reaches the API but its answer is lost
    (the process is killed while waiting for it)."""

    def __init__(self, api: Api, chunks: int) -> None:
        super().__init__(api)
        self.left = chunks

    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        answer = super().__call__(method, path, body)
        if path.endswith("/members"):
            if self.left == 0:
                raise Interrupted
            self.left -= 1
        return answer


HEADER = ["namespace", "id", "email", "consent_email", "preferredLanguage", "attr.tier", "attr.score:number"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def person(i: int) -> list[str]:
    return ["email", f"user{i}@example.com", f"user{i}@example.com", "in" if i % 2 else "", "en", "gold", str(i)]


def members_of(audience_id: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    cursor = None
    while True:
        page = audience_store.member_page(audience_id, cursor, limit=1000)
        found.update(page.members)
        cursor = page.cursor
        if cursor is None:
            return found


def test_an_import_brings_people_and_membership_and_names_each_bad_row(api: Api, tmp_path: Path) -> None:
    rows = [person(i) for i in range(2300)]
    rows[10] = ["e mail", "x", "", "", "", "", ""]  # line 12: a namespace with a space
    rows[500] = ["email", "bad@example.com", "", "maybe", "", "", ""]  # line 502
    rows[1500] = ["email", "n@example.com", "", "", "", "", "ten"]  # line 1502
    rows[2000] = ["email", "wide@example.com", "", "", "", "", "", "extra"]  # line 2002: a cell too many
    rows[2200] = ["email", "e@example.com", "not-an-email", "", "", "", ""]  # line 2202: the API refuses it
    source = write_csv(tmp_path / "people.csv", rows)
    out = io.StringIO()

    progress, bad = import_csv(source, InProcess(api), name="Spring", out=out)

    assert [b.line for b in bad] == [12, 502, 1502, 2002, 2202]
    report = out.getvalue()
    assert "people.csv: line 12: namespace:" in report
    assert "line 502: consent_email: must be in or out" in report
    assert "line 1502: attr.score:number: 'ten' is not a number" in report
    assert "line 2002: has 8 cells" in report
    assert "line 2202: profile.email: " in report
    assert (progress.rows, progress.added, progress.bad) == (2295, 2295, 5)

    expected = {("email", f"user{i}@example.com") for i in range(2300) if i not in (10, 500, 1500, 2000, 2200)}
    assert members_of(str(progress.audience_id)) == expected
    head = audience_store.get_audience(str(progress.audience_id))
    assert head is not None
    assert (head.name, head.member_count) == ("Spring", 2295)
    user7 = people.get_profiles([("email", "user7@example.com")])["email", "user7@example.com"]
    assert user7["attributes"] == {"tier": "gold", "score": 7}
    assert user7["consents"] == {"email": "in"}
    assert user7["preferredLanguage"] == "en"
    assert user7["source"] == "import"
    user8 = people.get_profiles([("email", "user8@example.com")])["email", "user8@example.com"]
    assert "consents" not in user8  # an empty cell leaves the field alone


def test_an_interrupted_import_resumes_after_the_last_acknowledged_row(api: Api, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "big.csv", [person(i) for i in range(2500)])
    dying = DiesAfter(api, chunks=2)
    with pytest.raises(Interrupted):
        import_csv(source, dying, name="Resumable", out=io.StringIO(), chunk=500)

    saved = json.loads((tmp_path / "big.csv.progress").read_text())
    assert saved["line"] == 1001  # two chunks of 500 acknowledged: rows up to line 1001
    assert saved["rows"] == 1000
    audience_id = saved["audienceId"]
    # The third chunk reached the API before the process died: it is in the list, unacknowledged.
    assert len(members_of(audience_id)) == 1500

    resumed = InProcess(api)
    out = io.StringIO()
    progress, bad = import_csv(source, resumed, out=out, chunk=500)

    assert "resuming after line 1001" in out.getvalue()
    assert bad == []
    assert [call["path"] for call in resumed.calls] == [f"/audiences/{audience_id}/members"] * 3
    assert resumed.calls[0]["body"]["members"][0]["id"] == "user1000@example.com"
    assert progress.rows == 2500
    assert members_of(audience_id) == {("email", f"user{i}@example.com") for i in range(2500)}
    head = audience_store.get_audience(audience_id)
    assert head is not None
    assert head.member_count == 2500  # the resent chunk added nothing twice

    again = InProcess(api)
    import_csv(source, again, out=io.StringIO(), chunk=500)  # finished: nothing left to send
    assert again.calls == []


def test_a_failing_api_stops_the_import_with_its_progress_saved(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_audience.time, "sleep", lambda _: None)
    source = write_csv(tmp_path / "flaky.csv", [person(i) for i in range(30)])
    inner = InProcess(api)
    calls = {"n": 0}

    def flaky(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        calls["n"] += 1
        if path.endswith("/members") and calls["n"] % 2 == 0:
            return 503, {"detail": "busy"}  # every other call: retried
        return inner(method, path, body)

    progress, _ = import_csv(source, flaky, name="Flaky", out=io.StringIO(), chunk=10)
    assert progress.rows == 30
    assert len(members_of(str(progress.audience_id))) == 30

    def down(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        raise import_audience.TransientError("connection refused")

    other = write_csv(tmp_path / "down.csv", [person(i) for i in range(5)])
    with pytest.raises(ImportFailed, match="kept failing"):
        import_csv(other, down, audience_id=str(progress.audience_id), out=io.StringIO())
    assert json.loads((tmp_path / "down.csv.progress").read_text())["line"] == 0


def test_the_command_checks_its_header_and_answers_an_exit_code(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(import_audience, "http_transport", lambda base, key: InProcess(api))
    bad_header = write_csv(tmp_path / "odd.csv", [["email", "a@example.com", "x"]], ["namespace", "id", "colour"])
    assert import_audience.main([str(bad_header), "--base-url", "http://x", "--api-key", "k" * 20]) == 2
    assert "has unknown colour" in capsys.readouterr().err

    good = write_csv(tmp_path / "ok.csv", [person(1), ["", "x", "", "", "", "", ""]])
    assert import_audience.main([str(good), "--name", "CLI", "--base-url", "http://x", "--api-key", "k" * 20]) == 1
    captured = capsys.readouterr()
    assert "line 3: namespace:" in captured.err
    assert "1 rows sent, 1 new members, 1 bad rows" in captured.out
