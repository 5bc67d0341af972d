"""The embedded local stack: the whole API of template.yaml over an in-process AWS emulator.

`python -m local --port 3000` serves it; `Stack(port=0, moto_port=0).start()` runs it from code."""

from local.stack import DEMO_CAMPAIGN, SeedError, Stack, demo_trigger

__all__ = ["DEMO_CAMPAIGN", "SeedError", "Stack", "demo_trigger"]
