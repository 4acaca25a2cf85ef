"""What every conformance function shares: writing down what it saw, in the Observations table (a
DynamoDB table, so that the tests read it the same way on every backend, wherever the function runs)."""

import json
import os
import time
import uuid

import boto3

_table = None


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["OBSERVATIONS_TABLE"])
    return _table


def record(test: str, kind: str, **data) -> None:
    """One observation of test ``test``: ``kind`` and whatever the function saw (JSON)."""
    table().put_item(Item={"test": test, "id": f"{time.time():.6f}-{uuid.uuid4().hex[:8]}", "kind": kind,
                           "at": str(time.time()), "data": json.dumps(data, default=str)})
