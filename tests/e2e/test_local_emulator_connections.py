"""The local stack's emulator keeps connections alive (local/emulator.py): werkzeug's development server
closed every one after its answer, so each AWS call of each function opened a TCP connection. AWS SDK
calls must still get the same answers: several calls go over one connection, each answer framed by its
own Content-Length, an error answer keeps the connection usable, a request body the server is sent in
chunks still works (it takes werkzeug's own path and closes the connection), and a HEAD answer keeps the
length a GET would have. An idle connection is never closed by the emulator: a server closing one races
the client reusing it at that moment, the request is never read and the client sees the connection closed
without an answer. For a send that is ambiguous (SES may have had it), so delivery records it
send_unconfirmed and never sends it again: with a 60 s idle close, one recipient of a 100,000-member
fan-out was lost that way, and 24 senders with idle gaps around a 0.5 s idle close lost one send in 10,000."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from local import emulator


def _connection(local_stack: Any) -> http.client.HTTPConnection:
    url = urlsplit(local_stack.moto_url)
    return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)


def _signed(local_stack: Any, target: str, body: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """A DynamoDB JSON call, signed as boto3 signs it (moto finds the service by the signature)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=local_stack.moto_url + "/",
        data=data,
        headers={"X-Amz-Target": f"DynamoDB_20120810.{target}", "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", "us-east-1").add_auth(request)
    return "/", data, dict(request.headers.items())


def test_calls_share_one_connection_and_each_answer_is_whole(local_stack: Any) -> None:
    connection = _connection(local_stack)
    try:
        path, data, headers = _signed(local_stack, "ListTables", {})
        connection.request("POST", path, body=data, headers=headers)
        first = connection.getresponse()
        tables = json.loads(first.read())["TableNames"]
        assert first.status == 200
        assert first.getheader("connection") != "close"
        socket_before = connection.sock
        # An error answer (an unknown table) is framed too, and the connection carries on.
        path, data, headers = _signed(local_stack, "DescribeTable", {"TableName": f"no-{uuid.uuid4().hex}"})
        connection.request("POST", path, body=data, headers=headers)
        missing = connection.getresponse()
        assert missing.status == 400
        assert "ResourceNotFoundException" in missing.read().decode()
        path, data, headers = _signed(local_stack, "ListTables", {})
        connection.request("POST", path, body=data, headers=headers)
        again = connection.getresponse()
        assert json.loads(again.read())["TableNames"] == tables
        assert connection.sock is socket_before, "the same TCP connection served all three calls"
    finally:
        connection.close()


def test_a_chunked_request_is_answered_and_its_connection_closed(local_stack: Any) -> None:
    connection = _connection(local_stack)
    try:
        path, data, headers = _signed(local_stack, "ListTables", {})
        headers.pop("Content-Length", None)
        connection.request("POST", path, body=iter([data[:1], data[1:]]), headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        assert answer.status == 200
        assert "TableNames" in json.loads(answer.read())
        assert answer.getheader("connection") == "close"
    finally:
        connection.close()


def test_sdk_calls_from_many_threads_get_their_own_answers(local_stack: Any) -> None:
    sqs = local_stack.emulator.client("sqs")
    url = sqs.create_queue(QueueName=f"keepalive-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def send(n: int) -> str:
        return str(sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")["MD5OfMessageBody"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        digests = list(pool.map(send, range(200)))
    # SQS answers each send with its body's MD5: every thread got the answer to its own request.
    assert digests == [hashlib.md5(f"m{n}".encode()).hexdigest() for n in range(200)]  # nosec B324
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "200"
    with pytest.raises(ClientError):
        sqs.get_queue_url(QueueName=f"missing-{uuid.uuid4().hex[:8]}")


def test_a_head_answer_keeps_the_length_of_what_a_get_returns(local_stack: Any) -> None:
    s3 = local_stack.emulator.client("s3")
    bucket = f"keepalive-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1234)
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1234
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1234


def test_an_idle_connection_is_kept_for_its_client(local_stack: Any) -> None:
    assert emulator.IDLE_CONNECTION_SECONDS is None  # the emulator never closes an idle connection
    connection = _connection(local_stack)
    try:
        sockets = []
        for _ in range(2):
            path, data, headers = _signed(local_stack, "ListTables", {})
            connection.request("POST", path, body=data, headers=headers)  # reconnects if the server closed
            answer = connection.getresponse()
            assert answer.status == 200
            assert "TableNames" in json.loads(answer.read())
            sockets.append(connection.sock)
            time.sleep(1.5)
        assert sockets[0] is not None
        assert sockets[1] is sockets[0], "the same TCP connection served both calls, idle in between"
    finally:
        connection.close()
