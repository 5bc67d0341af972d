"""DynamoDB access, one module per subject:

- campaigns: a campaign's head item, its immutable versions, the list of heads, the live snapshot
- executions: the request record of an execution (idempotency and verdicts)
- audience_executions: an audience execution (status, counts, fan-out checkpoint), its request, its schedule
- recipients: one recipient of an execution: its claim (the send guard) and its state
- outcomes: final outcomes of claimed sends, and the per-invocation batches that hold them
- reports: report counters per campaign and time bucket
- api_keys: API keys by hash
- page_tokens: opaque page tokens; errors: what the store refuses (ConcurrentModification, ...)

Callers use `store.<name>`: the names below are looked up on this package at call time, so a
test that patches `store.<name>` reaches every caller outside the package (not calls inside
it, which go through the defining module's own globals)."""

import importlib
from typing import TYPE_CHECKING, Any

from campaign_engine.store import campaigns, outcomes, page_tokens, recipients, reports
from campaign_engine.store.campaigns import (
    MAX_CAMPAIGN_DOCUMENT_BYTES,
    CampaignHead,
    LiveSnapshot,
    campaign_document_bytes,
    delete_campaign,
    get_campaign_head,
    get_campaign_version,
    get_live_snapshot,
    list_campaign_heads,
    put_campaign_head,
    put_campaign_version,
)
from campaign_engine.store.errors import BadPageToken, ConcurrentModification, StoreError
from campaign_engine.store.outcomes import Outcome, get_outcome_batches, record_outcomes, write_outcome_batch
from campaign_engine.store.page_tokens import decode_token, encode_token
from campaign_engine.store.recipients import (
    Claim,
    Move,
    RecipientState,
    advance_recipient_state,
    claim_recipient,
    count_marks,
    get_recipient_state,
    get_recipient_states,
    iter_recipient_states,
    mark_recipient,
    move_recipient,
    recipient_states,
    release_claim,
    resolve_claimed,
)
from campaign_engine.store.reports import add_report_counts, iter_report_counts

if TYPE_CHECKING:
    from campaign_engine.store import api_keys, audience_executions, executions
    from campaign_engine.store.api_keys import get_api_key, put_api_key
    from campaign_engine.store.executions import (
        ExecutionRecord,
        get_execution_record,
        get_replaced_execution_record,
        put_execution_record,
    )

# Imported by the first use of one of their names, not with the package: delivery, feedback, tracking
# and the webhooks function never read API keys, execution requests or audience executions. The
# modules that do (auth, trigger, executions, api_keys, ...) import them at their own start.
_LAZY = {
    "api_keys": ("api_keys", None),
    "get_api_key": ("api_keys", "get_api_key"),
    "put_api_key": ("api_keys", "put_api_key"),
    "audience_executions": ("audience_executions", None),
    "executions": ("executions", None),
    "ExecutionRecord": ("executions", "ExecutionRecord"),
    "get_execution_record": ("executions", "get_execution_record"),
    "get_replaced_execution_record": ("executions", "get_replaced_execution_record"),
    "put_execution_record": ("executions", "put_execution_record"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


__all__ = [
    "MAX_CAMPAIGN_DOCUMENT_BYTES",
    "BadPageToken",
    "CampaignHead",
    "Claim",
    "ConcurrentModification",
    "ExecutionRecord",
    "LiveSnapshot",
    "Move",
    "Outcome",
    "RecipientState",
    "StoreError",
    "add_report_counts",
    "advance_recipient_state",
    "api_keys",
    "audience_executions",
    "campaign_document_bytes",
    "campaigns",
    "claim_recipient",
    "count_marks",
    "decode_token",
    "delete_campaign",
    "encode_token",
    "executions",
    "get_api_key",
    "get_campaign_head",
    "get_campaign_version",
    "get_execution_record",
    "get_live_snapshot",
    "get_outcome_batches",
    "get_recipient_state",
    "get_recipient_states",
    "get_replaced_execution_record",
    "iter_recipient_states",
    "iter_report_counts",
    "list_campaign_heads",
    "mark_recipient",
    "move_recipient",
    "outcomes",
    "page_tokens",
    "put_api_key",
    "put_campaign_head",
    "put_campaign_version",
    "put_execution_record",
    "recipient_states",
    "recipients",
    "record_outcomes",
    "release_claim",
    "reports",
    "resolve_claimed",
    "write_outcome_batch",
]
