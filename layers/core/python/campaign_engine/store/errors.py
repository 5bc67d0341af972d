"""What the store refuses, said in its own terms: the API's edge (routes/problems.py) decides
what a caller is answered."""

from __future__ import annotations


class StoreError(Exception):
    """A refusal of the data layer that its caller can act on."""


class ConcurrentModification(StoreError):
    """The item changed since it was read (its revision moved on): read it again and retry."""


class BadPageToken(StoreError):
    """A page token the store did not hand out (or one altered since)."""
