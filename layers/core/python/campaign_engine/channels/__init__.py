"""Senders, one module per channel. Only these and `store`/`delivery_queue` touch AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureKind = Literal["retry", "permanent", "ambiguous"]


@dataclass
class SendFailure(Exception):
    """Why a send did not (certainly) happen.

    retry: the provider certainly did not accept it (throttled, unavailable): send again later.
    permanent: it never will (rejected address or content): record `failed`.
    ambiguous: it may have been accepted (the answer was lost): never send again."""

    kind: FailureKind
    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.code}"
