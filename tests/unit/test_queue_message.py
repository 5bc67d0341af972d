"""The queue message between the trigger and delivery: what one writes the other reads, and a
message of another format version is refused before anything in it is used."""

from __future__ import annotations

import json

import msgspec
import pytest

from campaign_engine import queue_message as qm

HEADER = qm.QueueMessage(
    v=qm.FORMAT_VERSION,
    executionId="e" * 32,
    requestId="r",
    campaignId="c",
    campaignVersion=3,
    createdAt="2026-12-01T09:00:00Z",
    expiresAt=1_900_000_000,
)


def _body(**fields: object) -> str:
    return json.dumps({**json.loads(qm.encode(HEADER)), **fields})


def test_what_the_trigger_writes_delivery_reads_back() -> None:
    people = [
        qm.QueuedRecipient("u1", "email", "ada@example.com", {"firstName": "Ada"}, {"order": {"id": 7}}),
        qm.QueuedRecipient("u2", "push", {"appID": "a", "token": "t"}, {}, {"code": "A\uffffB"}),
    ]
    [body] = qm.pack_encoded(HEADER, (qm.sqs_safe(qm.encode(person)) for person in people))
    assert qm.decode(body) == qm.QueueMessage(**{**msgspec.structs.asdict(HEADER), "recipients": people})


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_a_message_of_another_format_version_is_refused_by_name(version: object) -> None:
    with pytest.raises(qm.UnknownFormat) as refused:
        qm.decode(_body(v=version))
    assert refused.value.version == version


def test_a_later_format_of_another_shape_is_refused_for_its_version_not_its_shape() -> None:
    body = json.dumps({"v": 2, "execution": {"id": "e"}, "people": []})
    with pytest.raises(qm.UnknownFormat):
        qm.decode(body)


def test_a_message_without_its_version_is_refused() -> None:
    fields = json.loads(_body())
    del fields["v"]
    with pytest.raises(qm.UnknownFormat):
        qm.decode(json.dumps(fields))


def test_a_message_of_this_version_but_another_shape_is_a_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="campaignVersion"):
        qm.decode(_body(campaignVersion="three"))


def test_a_body_that_is_not_json_is_a_json_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        qm.decode("{not json")


def test_the_writer_always_stamps_its_own_version() -> None:
    [body] = qm.pack_encoded(msgspec.structs.replace(HEADER, v=99), [qm.encode(qm.QueuedRecipient("u", "e", "a"))])
    assert json.loads(body)["v"] == qm.FORMAT_VERSION


def test_an_entry_fits_a_message_up_to_its_limit() -> None:
    assert qm.entry_fits(b"x" * qm.MAX_ENTRY_BYTES)
    assert not qm.entry_fits(b"x" * (qm.MAX_ENTRY_BYTES + 1))


def test_a_message_waiting_on_another_runs_claim_comes_back_after_a_fixed_wait() -> None:
    assert qm.redelivery_seconds(7, waiting_only=True) == qm.WAIT_FOR_CLAIM_SECONDS
    assert qm.redelivery_seconds(7, waiting_only=False) > qm.WAIT_FOR_CLAIM_SECONDS


@pytest.mark.parametrize(("age", "delay"), [(0.0, 10), (3.2, 7), (7.0, 3), (10.0, 0), (600.0, 0), (-1.0, 10)])
def test_replayed_copies_wait_until_the_first_call_must_have_ended(age: float, delay: int) -> None:
    assert qm.FIRST_CALL_MAX_SECONDS == 10
    assert qm.replay_delay_seconds(age) == delay
