"""The Stripe connector, with Stripe's own SDK (`stripe`): a charge is a PaymentIntent created and
confirmed in one call, its Idempotency-Key the attempt's reference; a void cancels it; a refund is a
Refund of it.

An unknown outcome (the answer lost after the request left) is settled by repeating the create with the
same Idempotency-Key, which Stripe answers with the first PaymentIntent (for 24 hours) and never a
second charge. Never by Search: Stripe documents it as not read-after-write consistent, and a look-up
that missed a charge would fail the payment over and charge it twice. So `find_charge` needs the
charge's request (`ChargeRequest`) to repeat it.

The sandbox's tokens map to Stripe's test payment methods; a token the map does not know is passed
as it is (a real `pm_...`).
"""

from __future__ import annotations

from typing import Any

from stripe import (
    APIConnectionError,
    APIError,
    CardError,
    IdempotencyError,
    RateLimitError,
    RequestsClient,
    SignatureVerificationError,
    StripeClient,
    StripeError,
    Webhook,
)

from paygate.services.errors import AuthenticationFailed, InvalidRequest
from paygate.services.ports.provider import (
    ChargeRequest,
    ChargeResult,
    ProviderRejected,
    ProviderUnavailable,
    RefundResult,
)

TEST_PAYMENT_METHODS = {
    "tok_success": "pm_card_visa",
    "tok_decline": "pm_card_chargeDeclined",
    "tok_insufficient_funds": "pm_card_chargeDeclinedInsufficientFunds",
}


class StripeProvider:
    def __init__(self, api_key: str, *, api_base: str | None = None, timeout: float = 10.0) -> None:
        self.client = StripeClient(api_key, base_addresses={"api": api_base} if api_base else None,
                                   max_network_retries=0, http_client=RequestsClient(timeout=timeout))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CardError:
            raise
        except APIConnectionError as exc:
            # Stripe's SDK says "could not connect" before the request left, else the answer was lost.
            refused = "Connection refused" in str(exc) or "Failed to establish a new connection" in str(exc)
            raise ProviderUnavailable(f"stripe: {exc.user_message or exc}", charged_maybe=not refused) from exc
        except (APIError, RateLimitError) as exc:
            raise ProviderUnavailable(f"stripe answered HTTP {exc.http_status}") from exc
        except IdempotencyError as exc:
            raise ProviderRejected(f"stripe refused the idempotency key: {exc.user_message}") from exc
        except StripeError as exc:
            if exc.http_status and exc.http_status >= 500:
                raise ProviderUnavailable(f"stripe answered HTTP {exc.http_status}") from exc
            raise ProviderRejected(f"stripe refused the request: HTTP {exc.http_status} {exc.user_message}") from exc

    def charge(self, *, reference: str, amount: int, currency: str, token: str,
               idempotency_key: str) -> ChargeResult:
        params = {"amount": amount, "currency": currency.lower(), "confirm": True,
                  "payment_method": TEST_PAYMENT_METHODS.get(token, token), "payment_method_types": ["card"],
                  "metadata": {"reference": reference}}
        try:
            intent = self._call(self.client.v1.payment_intents.create, params=params,
                                options={"idempotency_key": idempotency_key})
        except CardError as exc:  # a decline: the PaymentIntent stays, requires_payment_method
            intent = _plain(exc.error.payment_intent if exc.error else None)
            decline = (exc.error.decline_code if exc.error else None) or exc.code or "card_declined"
            return ChargeResult("declined", intent.get("id"), "insufficient_funds"
                                if decline == "insufficient_funds" else "card_declined")
        return _result(_plain(intent))

    def find_charge(self, reference: str, request: ChargeRequest | None = None) -> ChargeResult | None:
        """The create repeated with the same Idempotency-Key: the first PaymentIntent, never a second."""
        if request is None:
            raise ProviderRejected("stripe charges are looked up by repeating their create (no request given)")
        first = self.charge(reference=reference, amount=request.amount, currency=request.currency,
                            token=request.token, idempotency_key=reference)
        if first.status != "pending" or not first.charge_id:
            return first
        # The replay is the first answer: a pending one is read again for what it is now.
        return _result(_plain(self._call(self.client.v1.payment_intents.retrieve, first.charge_id)))

    def void(self, charge_id: str) -> ChargeResult:
        intent = self._call(self.client.v1.payment_intents.cancel, charge_id)
        return ChargeResult("voided", intent["id"])

    def refund(self, *, charge_id: str, amount: int, idempotency_key: str) -> RefundResult:
        refund = self._call(self.client.v1.refunds.create,
                            params={"payment_intent": charge_id, "amount": amount,
                                    "metadata": {"idempotency_key": idempotency_key}},
                            options={"idempotency_key": idempotency_key})
        return RefundResult("succeeded", refund["id"])

    def find_refund(self, reference: str, idempotency_key: str) -> RefundResult | None:
        raise ProviderRejected("stripe refunds are settled by repeating the refund with its key")

    def pay_bill(self, **_: Any) -> ChargeResult:
        raise ProviderRejected("stripe pays no billers")

    def find_bill_payment(self, reference: str) -> ChargeResult | None:
        return None


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (or None) as a plain dict."""
    return obj.to_dict() if obj is not None and hasattr(obj, "to_dict") else dict(obj or {})


def _result(intent: dict[str, Any]) -> ChargeResult:
    status = intent["status"]
    if status == "succeeded":
        return ChargeResult("succeeded", intent["id"])
    if status in ("requires_payment_method", "canceled"):
        error = intent.get("last_payment_error") or {}
        code = error.get("decline_code") or error.get("code") or "card_declined"
        return ChargeResult("declined", intent["id"], "insufficient_funds" if code == "insufficient_funds"
                            else "card_declined")
    return ChargeResult("pending", intent["id"])


def verify_webhook(body: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """A Stripe webhook's event, verified by Stripe's SDK (`Stripe-Signature`, five minutes' tolerance):
    401 when the signature does not match, 400 when the body is not an event."""
    if not signature:
        raise InvalidRequest("no Stripe-Signature header", param="Stripe-Signature", code="signature_invalid")
    try:
        event = Webhook.construct_event(body, signature, secret)
    except SignatureVerificationError:
        raise AuthenticationFailed("the webhook's signature does not match, or is too old",
                                   code="signature_mismatch") from None
    except ValueError:
        raise InvalidRequest("the webhook body is not JSON", code="invalid_json") from None
    return _plain(event)
