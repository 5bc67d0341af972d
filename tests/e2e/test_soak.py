"""The soak of issue "Delivery you can trust", on the local stack: 10,000 recipients from 16
concurrent callers with a tenth of the calls replayed; prints what was sent and received."""

from __future__ import annotations

import os

import pytest

from benchmarks.soak import run_soak
from local import Stack


def test_soak_loses_and_duplicates_nothing(local_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # The full 10,000 in `make test` too (about 3 minutes here); SOAK_RECIPIENTS makes it shorter
    # while working on something else.
    recipients = int(os.environ.get("SOAK_RECIPIENTS", "10000"))
    result = run_soak(local_stack, recipients=recipients, concurrency=16, per_call=25, replay_share=0.1)
    with capsys.disabled():
        print("\n" + result.summary())
    assert result.server_errors == 0
    assert result.accepted == recipients
    assert result.lost == 0
    assert result.duplicated == 0
