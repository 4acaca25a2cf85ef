"""The card tokens the sandbox knows, and what each one does to a charge: one table.

``tok_success``               succeeded
``tok_decline``               declined, ``card_declined``
``tok_insufficient_funds``    declined, ``insufficient_funds``
``tok_provider_error``        always 503, never charges
``tok_flaky``                 503 for the first two attempts with a given idempotency key, then succeeded
``tok_timeout_after_success`` the first attempt with a key records a succeeded charge, then holds the answer
                              for ``timeout_delay`` seconds; later attempts with the key answer at once
``tok_async``                 pending; ``async_delay`` seconds later it succeeds and a signed callback is sent
``tok_async_no_callback``     as ``tok_async``, but the callback never comes: only a lookup finds it succeeded
``tok_pending``               pending until voided
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    """What a token does to the charge attempts made with it."""

    status: str = "succeeded"  # the new charge's status
    decline_code: str | None = None
    failures: int | None = 0  # attempts per idempotency key answered 503 before a charge is made; None: all
    holds_answer: bool = False  # the charge is recorded, the answer comes too late for the client
    settles_later: bool = False  # pending now, succeeded ``async_delay`` seconds later
    calls_back: bool = True  # ... and the callback URL is told (with settles_later)

    def fails(self, attempt: int) -> bool:
        """Whether the ``attempt``-th request with one idempotency key is a simulated provider fault."""
        return self.failures is None or attempt <= self.failures


BEHAVIOURS: dict[str, Behaviour] = {
    "tok_success": Behaviour(),
    "tok_decline": Behaviour("declined", "card_declined"),
    "tok_insufficient_funds": Behaviour("declined", "insufficient_funds"),
    "tok_provider_error": Behaviour(failures=None),
    "tok_flaky": Behaviour(failures=2),
    "tok_timeout_after_success": Behaviour(holds_answer=True),
    "tok_async": Behaviour("pending", settles_later=True),
    "tok_async_no_callback": Behaviour("pending", settles_later=True, calls_back=False),
    "tok_pending": Behaviour("pending"),
}

# The gateway's API accepts exactly these (paygate.services.funding.card.SANDBOX_TOKENS; a test keeps them equal).
TOKENS = tuple(BEHAVIOURS)
