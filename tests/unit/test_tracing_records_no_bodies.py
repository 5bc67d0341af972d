"""X-Ray must not record bodies: API answers hold previews and recipient lists, and errors may
quote addresses. Powertools records a traced function's return value and exception unless told not
to, so both the template's defaults and every decorator say so."""

from __future__ import annotations

import ast
from pathlib import Path

from local.template import Template

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ("capture_lambda_handler", "capture_method")


def test_the_template_turns_off_response_and_error_capture_for_every_function() -> None:
    environment = Template.load(ROOT / "template.yaml").environment()
    assert environment.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") == "false"
    assert environment.get("POWERTOOLS_TRACER_CAPTURE_ERROR") == "false"


def _tracer_decorators() -> list[tuple[str, ast.expr]]:
    found = []
    for path in [*(ROOT / "functions").rglob("*.py"), *(ROOT / "layers" / "core" / "python").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if isinstance(target, ast.Attribute) and target.attr in CAPTURES:
                        found.append((f"{path.relative_to(ROOT)}:{node.name}", decorator))
    return found


def test_every_traced_function_records_neither_its_response_nor_its_error() -> None:
    decorators = _tracer_decorators()
    # No handler carries the Powertools tracer today (Lambda's active tracing records each run, without
    # bodies); one that takes it up again must say so.
    for where, decorator in decorators:
        assert isinstance(decorator, ast.Call), f"{where}: say capture_response=False, capture_error=False"
        given = {k.arg: k.value for k in decorator.keywords}
        for name in ("capture_response", "capture_error"):
            value = given.get(name)
            assert isinstance(value, ast.Constant), f"{where}: {name}=False"
            assert value.value is False, f"{where}: {name}=False"
