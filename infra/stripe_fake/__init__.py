"""A small contract fake of Stripe's API: what paygate relies on from Stripe that localstripe lacks,
following Stripe's documented behaviour, for tests only (never an emulator of all of Stripe).

- ``POST /v1/payment_intents`` with ``confirm=true``: ``pm_card_visa`` succeeds,
  ``pm_card_chargeDeclined`` and ``pm_card_chargeDeclinedInsufficientFunds`` answer 402 ``card_error``
  (``code`` ``card_declined``, ``decline_code`` ``generic_decline`` or ``insufficient_funds``) with the
  PaymentIntent left ``requires_payment_method``.
- Idempotency (https://docs.stripe.com/api/idempotent_requests): the same ``Idempotency-Key`` with the
  same parameters answers the first answer again (status and body, 402 included, header
  ``Idempotent-Replayed: true``) and creates nothing; with other parameters it is 400
  ``idempotency_error``.
- ``POST /v1/payment_intents/{id}/cancel`` (only while not succeeded), ``GET /v1/payment_intents/{id}``,
  ``POST /v1/refunds`` (idempotent too).
- Faults for tests: ``down`` (503 to everything), ``hold_first_answer`` (the first create of a key is
  carried out, then its answer held ``hold_seconds``: a timeout after the charge settled).
- ``send_event(url, secret, type, intent)`` posts a webhook signed as Stripe signs them
  (``Stripe-Signature: t=...,v1=HMAC-SHA256(secret, "t.payload")``).

It listens on 127.0.0.1 only (werkzeug's threaded server, in a thread).
"""

from stripe_fake.server import StripeFake, sign

__all__ = ["StripeFake", "sign"]
