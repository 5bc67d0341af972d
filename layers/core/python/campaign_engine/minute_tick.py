"""What the scheduler does every minute, with only what a minute with nothing due needs: campaigns whose
window opened go live and ended ones complete (store reads and conditional writes), and scheduled
audience executions that are due start. The audience fan-out's code (profiles, screening, the trigger's
checks, pydantic's models) is loaded only in a minute when one is due: importing it on every cold start
made the scheduler's 1.7 times its floor (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaign_engine import store
from campaign_engine.observability import logger
from campaign_engine.store import audience_executions as records


def due_key(moment: datetime) -> str:
    """A schedule's instant in the due index: UTC, fixed width, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def advance_schedules(now: datetime | None = None) -> list[tuple[str, str]]:
    """Start what is due, complete what has ended. Returns (id, new status).

    Triggers check the window themselves on every call, so this only keeps statuses true."""
    moment = now or datetime.now(UTC)
    changes: list[tuple[str, str]] = []
    for status in ("scheduled", "live"):
        token = None
        while True:
            heads, token = store.list_campaign_heads(status=status, channel=None, tag=None, limit=100, next_token=token)
            for head in heads:
                target = _due_status(head.doc, moment)
                if target and target != status:
                    head.doc = {**head.doc, "status": target, "updatedAt": _iso(datetime.now(UTC))}
                    if head.live is not None:
                        head.live = {**head.live, "status": target}
                    try:
                        store.put_campaign_head(head, expected_revision=head.revision)
                    except store.ConcurrentModification:
                        continue  # edited meanwhile: the next tick looks again
                    changes.append((head.campaign_id, target))
                    logger.info("campaign status changed by schedule", campaign_id=head.campaign_id, status=target)
            if not token:
                break
    return changes


def _due_status(doc: dict[str, Any], now: datetime) -> str | None:
    schedule = doc.get("schedule") or {}
    end = schedule.get("end")
    if end and datetime.fromisoformat(end.replace("Z", "+00:00")) <= now:
        return "completed"
    start = schedule.get("start")
    if doc["status"] == "scheduled" and (not start or datetime.fromisoformat(start.replace("Z", "+00:00")) <= now):
        return "live"
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def start_due_schedules(now: datetime | None = None) -> list[tuple[str, str]]:
    """Every scheduled audience execution due by `now` starts (once); (scheduleId, executionId) of those
    this tick started. A minute with none due costs one Query and loads nothing more."""
    moment = now or _now()
    if next(iter(records.due_schedules(due_key(moment))), None) is None:
        return []
    from campaign_engine.audience_executions import start_due_schedules as start

    return start(moment)
