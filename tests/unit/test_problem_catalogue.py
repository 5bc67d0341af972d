"""The catalogue of problem codes (errors.PROBLEM_TYPES) is the only map from a code to its
status and title: every code the API raises is in it, it holds no code nothing raises, and the
OpenAPI document lists exactly its codes, each under its own status."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

import campaign_engine
from campaign_engine.errors import PROBLEM_TYPES, DomainError
from campaign_engine.routes.meta import openapi_document

PACKAGE = Path(campaign_engine.__file__).parent


def _raised_codes() -> dict[str, list[str]]:
    """Every literal code in the package's source, with where it stands: a `code="..."` argument
    of any call (DomainError, or a helper that builds one) or the first argument of DomainError."""
    found: dict[str, list[str]] = {}
    for source in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if not isinstance(node, ast.Call):
                continue
            values = [k.value for k in node.keywords if k.arg == "code"]
            if isinstance(node.func, ast.Name) and node.func.id == "DomainError" and node.args:
                values.append(node.args[0])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    where = f"{source.relative_to(PACKAGE)}:{node.lineno}"
                    found.setdefault(value.value, []).append(where)
    return found


def test_every_code_raised_is_in_the_catalogue_and_every_catalogued_code_is_raised() -> None:
    raised = _raised_codes()
    unknown = {code: places for code, places in raised.items() if code not in PROBLEM_TYPES}
    assert unknown == {}, "add these codes to errors.PROBLEM_TYPES"
    assert set(PROBLEM_TYPES) - set(raised) == set(), "nothing raises these catalogued codes"


def test_a_domain_error_takes_status_and_title_from_its_code_and_refuses_an_unknown_code() -> None:
    error = DomainError(code="campaign_not_live", detail="stopped", extra={"campaignId": "c-1"})
    assert (error.status, error.title) == (409, "Conflict")
    with pytest.raises(ValueError, match="not_a_code"):
        DomainError(code="not_a_code", detail="x")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_the_openapi_document_lists_exactly_the_catalogued_codes_each_under_its_status() -> None:
    document = json.loads(openapi_document())
    assert document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] == list(PROBLEM_TYPES)

    declared: set[str] = set()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            # The tracking routes answer people's browsers and mail clients with plain pages, not problems.
            if not status.startswith(("4", "5")) or path.startswith("/t/"):
                continue
            [_, narrowed] = response["content"]["application/problem+json"]["schema"]["allOf"]
            codes = narrowed["properties"]["code"]["enum"]
            assert codes, (method, path, status)
            for code in codes:
                assert PROBLEM_TYPES[code].status == int(status), (method, path, code)
                assert PROBLEM_TYPES[code].description in response["description"]
            declared.update(codes)
    # route_not_found answers a method and path that no operation has, so no operation lists it.
    assert declared == set(PROBLEM_TYPES) - {"route_not_found"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("post", "/im/executions/unitary", "409", "request_id_reused"),
        ("post", "/im/executions/unitary", "413", "payload_too_large"),
        ("patch", "/campaigns/{campaignId}", "409", "concurrent_modification"),
        ("post", "/campaigns/{campaignId}/preview", "422", "render_error"),
        ("get", "/campaigns", "400", "invalid_next_token"),
        ("get", "/im/executions/{executionId}", "404", "execution_not_found"),
        ("get", "/campaigns/{campaignId}", "404", "campaign_not_found"),
        ("post", "/campaigns", "415", "unsupported_media_type"),
    ],
)
def test_an_operation_lists_the_problems_it_can_answer(method: str, path: str, status: str, code: str) -> None:
    response = json.loads(openapi_document())["paths"][path][method]["responses"][status]
    assert code in response["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
