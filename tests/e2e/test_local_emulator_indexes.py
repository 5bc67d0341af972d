"""The local stack's emulator finds a message by its receipt handle, and a Query's partition by its key,
where moto walks the whole queue or sorts the whole table (local/emulator.py). The answers must stay
what they were. SQS: a delete removes the one message it names, a stale handle of a received message
still deletes it, a handle deleted twice is no error, an unknown one is, and a visibility change makes
exactly that message visible again. DynamoDB: a Query answers its partition in key order, both ways,
page by page, with its conditions and filter; an index's Query and a Scan still see every partition."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def sqs_queue(local_stack: Any) -> tuple[Any, str]:
    sqs = local_stack.emulator.client("sqs")
    url = sqs.create_queue(QueueName=f"receipts-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    for start in range(0, 50, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
        )
    return sqs, url


def _receive(sqs: Any, url: str, count: int = 10, visibility: int = 30) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, VisibilityTimeout=visibility).get(
        "Messages", []
    )


def _bodies_left(sqs: Any, url: str) -> list[str]:
    """Every message visible now, each read once (and then hidden for 30 s)."""
    bodies: list[str] = []
    while batch := _receive(sqs, url):
        bodies.extend(m["Body"] for m in batch)
    return bodies


def test_a_delete_removes_only_the_message_its_handle_names(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    received = _receive(sqs, url)
    assert len(received) == 10
    sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received[:4])]
    )
    # The deleted handle again: no error, nothing else removed.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 40
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 6


def test_a_stale_handle_still_deletes_a_message_received_again(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    first = _receive(sqs, url, count=1, visibility=0)[0]
    again = [m for m in _receive(sqs, url, count=10, visibility=30) if m["MessageId"] == first["MessageId"]]
    assert again
    assert again[0]["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(_receive(sqs, url, count=10, visibility=30))
        ],
    )
    assert first["Body"] not in _bodies_left(sqs, url)


def test_a_visibility_change_releases_exactly_that_message(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    received = _receive(sqs, url, count=10, visibility=60)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received[3]["ReceiptHandle"], VisibilityTimeout=0)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 9
    bodies = _bodies_left(sqs, url)
    assert received[3]["Body"] in bodies
    assert not {m["Body"] for i, m in enumerate(received) if i != 3} & set(bodies)


def test_an_unknown_handle_is_refused(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    with pytest.raises(ClientError) as refused:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert refused.value.response["Error"]["Code"] in {"ReceiptHandleIsInvalid", "InvalidParameterValue"}
    with pytest.raises(ClientError):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="not-a-handle", VisibilityTimeout=0)


@pytest.fixture
def partitioned_table(local_stack: Any) -> tuple[Any, str]:
    dynamodb = local_stack.emulator.client("dynamodb")
    name = f"partitions-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "colour", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByColour",
                "KeySchema": [{"AttributeName": "colour", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for p in ("a", "b", "c"):
        for i in range(25):
            item = {"pk": {"S": p}, "sk": {"S": f"{i:03d}"}, "n": {"N": str(i)}}
            if i % 5 == 0:
                item["colour"] = {"S": "red"}
            dynamodb.put_item(TableName=name, Item=item)
    return dynamodb, name


def _query_all(dynamodb: Any, **arguments: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    while True:
        page = dynamodb.query(**arguments)
        found += [(item["pk"]["S"], item["sk"]["S"]) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_query_answers_its_partition_in_key_order_page_by_page(partitioned_table: tuple[Any, str]) -> None:
    dynamodb, name = partitioned_table
    forward = _query_all(
        dynamodb,
        TableName=name,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "b"}},
        Limit=7,
    )
    assert forward == [("b", f"{i:03d}") for i in range(25)]
    backward = _query_all(
        dynamodb,
        TableName=name,
        KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
        FilterExpression="n > :min",
        ExpressionAttributeValues={":p": {"S": "c"}, ":lo": {"S": "005"}, ":hi": {"S": "015"}, ":min": {"N": "8"}},
        ScanIndexForward=False,
        Limit=4,
    )
    assert backward == [("c", f"{i:03d}") for i in range(15, 8, -1)]
    missing = dynamodb.query(
        TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "nobody"}}
    )
    assert missing["Items"] == []
    assert missing["Count"] == 0


def test_an_index_query_and_a_scan_still_see_every_partition(partitioned_table: tuple[Any, str]) -> None:
    dynamodb, name = partitioned_table
    red = _query_all(
        dynamodb,
        TableName=name,
        IndexName="ByColour",
        KeyConditionExpression="colour = :c",
        ExpressionAttributeValues={":c": {"S": "red"}},
    )
    assert sorted(red) == sorted((p, f"{i:03d}") for p in "abc" for i in range(0, 25, 5))
    assert dynamodb.scan(TableName=name, Select="COUNT")["Count"] == 75


def test_queue_attributes_read_as_sqs_answers_them(sqs_queue: tuple[Any, str], local_stack: Any) -> None:
    sqs, url = sqs_queue
    _receive(sqs, url, count=5, visibility=60)
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["ApproximateNumberOfMessages"] == "45"
    assert everything["ApproximateNumberOfMessagesNotVisible"] == "5"
    assert everything["VisibilityTimeout"] == "30"
    assert "QueueArn" in everything
    some = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "MessageRetentionPeriod"])
    assert some["Attributes"] == {"VisibilityTimeout": "30", "MessageRetentionPeriod": "345600"}
    name = url.rsplit("/", 1)[-1]
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"] == url
    with pytest.raises(ClientError):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "31"})
