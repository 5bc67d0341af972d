"""Lambda functions of the template, loaded and invoked in this process."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import iam
from local.harness import LambdaContext, import_source
from local.template import Function

Handler = Callable[[Any, Any], Any]
log = logging.getLogger("local.functions")


@dataclass
class LocalFunction:
    """One function and its handler. Invocations may run concurrently on several threads:
    the local stack has one 'container' per function, unlike Lambda's one per invocation."""

    logical_id: str
    name: str
    arn: str
    memory_mb: int
    timeout_seconds: int
    handler: Handler
    log_group: str = ""
    # False for the local stack's own routes: they are not the template's, and have no role to run under.
    has_template_role: bool = True

    def invoke(self, event: Any) -> Any:
        context = LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.memory_mb,
            invoked_function_arn=self.arn,
            log_group_name=self.log_group or f"/aws/lambda/{self.name}",
            timeout_seconds=self.timeout_seconds,
        )
        started = time.monotonic()
        try:
            if not self.has_template_role:
                return self.handler(event, context)
            with iam.acting_as(self.logical_id):  # its calls run under its template role
                return self.handler(event, context)
        finally:
            # A thread cannot be stopped, so a timeout is reported rather than enforced.
            elapsed = time.monotonic() - started
            if elapsed > self.timeout_seconds:
                log.warning("%s ran %.1f s, beyond its %d s timeout", self.logical_id, elapsed, self.timeout_seconds)


def from_template(spec: Function, root: Path) -> LocalFunction:
    """Import the handler module from CodeUri under a name of its own: every function's file is app.py."""
    code_dir = (root / spec.code_uri).resolve()
    module_path, _, attribute = spec.handler.rpartition(".")
    source = code_dir / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler module {source} does not exist")
    # Like /var/task in Lambda, the code directory is importable, so helper modules next to app.py load.
    if str(code_dir) not in sys.path:
        sys.path.append(str(code_dir))
    module = import_source(source, f"_local_function_{spec.logical_id}_{module_path.replace('.', '_')}")
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {source} has no callable {attribute!r}")
    return LocalFunction(
        logical_id=spec.logical_id,
        name=spec.name,
        arn=spec.arn,
        memory_mb=spec.memory_mb,
        timeout_seconds=spec.timeout_seconds,
        handler=handler,
        log_group=spec.log_group,
    )
