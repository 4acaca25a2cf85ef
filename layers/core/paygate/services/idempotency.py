"""Idempotent POSTs: one object per key, the first answer replayed, a different request refused.

Protocol: claim the key (a conditional put, state IN_PROGRESS with a short lock), do the work, and
write the completion (state COMPLETED + the response) in the same transaction as the work itself.
So a crash can never leave an object without its key, nor a key pointing at no object; a crash
between claim and work leaves a lock that expires, after which the key can be used again.
"""

from __future__ import annotations

import uuid
from typing import Callable

from paygate.domain.idempotency import fingerprint, valid_key
from paygate.services.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
)
from paygate.services.ports import (
    Claimed,
    IdempotencyCompletion,
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredResponse,
)

REPLAYED_HEADER = "Idempotent-Replayed"


def require_key(key: str | None) -> str:
    if key is None or key == "":
        raise InvalidRequest(
            "an Idempotency-Key header is required on this request (1 to 255 characters)",
            param="Idempotency-Key", code="idempotency_key_missing",
        )
    if not valid_key(key):
        raise InvalidRequest(
            "the Idempotency-Key header must be 1 to 255 printable characters",
            param="Idempotency-Key", code="idempotency_key_invalid",
        )
    return key


def run_idempotent(
    store: IdempotencyStore,
    *,
    merchant_id: str,
    key: str,
    method: str,
    path: str,
    body: object,
    now: int,
    work: Callable[[Callable[[StoredResponse], IdempotencyCompletion]], StoredResponse],
) -> StoredResponse:
    """Run `work` once per (merchant, key). `work` gets a function that turns its response into the
    completion it must write in its own transaction."""
    scope_key = f"{merchant_id}#{key}"
    lock_id = uuid.uuid4().hex
    claim = store.claim(scope_key, fingerprint(method, path, body), lock_id, now)
    match claim:
        case Replay(response):
            headers = {**response.headers, REPLAYED_HEADER: "true"}
            return StoredResponse(response.status, response.body, headers)
        case Mismatch():
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request", param="Idempotency-Key"
            )
        case InProgress():
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is still being processed; retry later",
                param="Idempotency-Key",
            )
        case Claimed():
            pass
    try:
        return work(lambda response: IdempotencyCompletion(scope_key, lock_id, response))
    except BaseException:
        store.release(scope_key, lock_id)
        raise
