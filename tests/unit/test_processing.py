"""The processor's decisions, with an in-memory repository and a scripted provider."""

import pytest
from fakes import FakePayments, ScriptedProvider, unavailable

from paygate.domain import payment as d
from paygate.domain.money import Money
from paygate.domain.payment import PaymentStatus
from paygate.schemas.messages import Command
from paygate.services.outcomes import Done, RetryLater
from paygate.services.ports import (
    ChargeResult,
    EventMeta,
    IdempotencyCompletion,
    ProviderRejected,
    StoredResponse,
)
from paygate.services.processing import backoff, fail_dead_command, handle_command

NOW = "2026-01-01T00:00:00.000Z"
OK = ChargeResult("succeeded", "ch_1")


def seeded(token="tok_success"):
    repo = FakePayments()
    payment, event = d.open_payment(payment_id="pay_1", event_id="evt_1", merchant_id="m",
                                    money=Money.of(500, "EUR"), payment_method={"type": "card", "token": token},
                                    now=NOW)
    repo.idempotency.claim("m#k", "f", "lock", 0)
    repo.create(payment, event, EventMeta(), IdempotencyCompletion("m#k", "lock", StoredResponse(202, {})))
    return repo


def command(kind, version):
    return Command(type=kind, payment_id="pay_1", expected_version=version, event_id=f"evt_{version}")


def run(repo, provider, kind, version, attempt=1, max_attempts=5):
    return handle_command(command(kind, version), attempt=attempt, max_attempts=max_attempts, backoff_base=5,
                          payments=repo, provider=provider, sleep=lambda s: None)


def test_start_then_charge_completes_the_payment_with_three_events():
    repo, provider = seeded(), ScriptedProvider(OK)
    assert run(repo, provider, "payment.start_processing", 1) == Done("processing")
    assert run(repo, provider, "payment.charge", 2) == Done("COMPLETED")
    p = repo.get("pay_1")
    assert (p.status, p.version, p.provider_charge_id) == (PaymentStatus.COMPLETED, 3, "ch_1")
    assert [str(e.event.type) for e in repo.events("pay_1")] == [
        "payment.created", "payment.processing", "payment.completed"]
    assert provider.calls[0]["idempotency_key"] == "pay_1"


@pytest.mark.parametrize("code", ["card_declined", "insufficient_funds"])
def test_a_decline_fails_the_payment_with_its_code(code):
    repo = seeded()
    run(repo, None, "payment.start_processing", 1)
    run(repo, ScriptedProvider(ChargeResult("declined", "ch_2", code)), "payment.charge", 2)
    p = repo.get("pay_1")
    assert p.status == PaymentStatus.FAILED and p.failure.code == code


def test_duplicate_and_stale_commands_do_nothing():
    repo, provider = seeded(), ScriptedProvider(OK)
    run(repo, provider, "payment.start_processing", 1)
    assert run(repo, provider, "payment.start_processing", 1) == Done("stale")
    run(repo, provider, "payment.charge", 2)
    assert run(repo, provider, "payment.charge", 2) == Done("stale")
    assert len(provider.calls) == 1 and len(repo.events("pay_1")) == 3


def test_an_early_command_is_not_applied_out_of_order():
    repo, provider = seeded(), ScriptedProvider(OK)
    assert run(repo, provider, "payment.charge", 2) == Done("stale")
    assert repo.get("pay_1").status == PaymentStatus.NEW and provider.calls == []


def test_transient_errors_are_retried_in_process_then_succeed():
    repo, provider = seeded(), ScriptedProvider(unavailable(), unavailable(), OK)
    run(repo, provider, "payment.start_processing", 1)
    assert run(repo, provider, "payment.charge", 2) == Done("COMPLETED")
    assert len(provider.calls) == 3


def test_a_provider_that_stays_down_is_retried_later_with_backoff():
    repo, provider = seeded(), ScriptedProvider(unavailable())
    run(repo, provider, "payment.start_processing", 1)
    outcome = run(repo, provider, "payment.charge", 2, attempt=2)
    assert isinstance(outcome, RetryLater) and outcome.seconds == backoff(2, 5) == 10
    assert repo.get("pay_1").status == PaymentStatus.PROCESSING


def test_on_the_last_attempt_the_payment_fails_provider_unavailable_never_stuck():
    repo, provider = seeded(), ScriptedProvider(unavailable())
    run(repo, provider, "payment.start_processing", 1)
    assert run(repo, provider, "payment.charge", 2, attempt=5, max_attempts=5) == Done("FAILED")
    assert repo.get("pay_1").failure.code == "provider_unavailable"


def test_a_provider_refusal_fails_the_payment_without_retry():
    repo, provider = seeded(), ScriptedProvider(ProviderRejected("HTTP 400"))
    run(repo, provider, "payment.start_processing", 1)
    run(repo, provider, "payment.charge", 2)
    assert repo.get("pay_1").failure.code == "provider_rejected" and len(provider.calls) == 1


def test_a_pending_charge_leaves_the_payment_processing():
    repo = seeded()
    run(repo, None, "payment.start_processing", 1)
    assert run(repo, ScriptedProvider(ChargeResult("pending", "ch_3")), "payment.charge", 2) == \
        Done("pending at the provider")
    assert repo.get("pay_1").status == PaymentStatus.PROCESSING


def test_a_dead_lettered_command_ends_its_payment_failed():
    repo, provider = seeded(), ScriptedProvider(OK)
    run(repo, None, "payment.start_processing", 1)
    fail_dead_command(command("payment.charge", 2), payments=repo, provider=provider)
    p = repo.get("pay_1")
    assert p.status == PaymentStatus.FAILED and p.failure.code == "processing_error"
    assert fail_dead_command(command("payment.charge", 2), payments=repo, provider=provider) == \
        Done("nothing to end")


def test_a_dead_lettered_start_goes_through_processing_to_failed():
    repo = seeded()
    fail_dead_command(command("payment.start_processing", 1), payments=repo, provider=ScriptedProvider(OK))
    assert [str(e.event.type) for e in repo.events("pay_1")] == [
        "payment.created", "payment.processing", "payment.failed"]


def test_a_charge_the_provider_made_after_all_completes_the_payment_instead_of_failing_it():
    # Given a provider whose answers time out but which did take the money
    repo, provider = seeded(), ScriptedProvider(unavailable())
    provider.found = ChargeResult("succeeded", "ch_hidden")
    run(repo, provider, "payment.start_processing", 1)
    # When the last attempt gives up on the charge call
    assert run(repo, provider, "payment.charge", 2, attempt=5, max_attempts=5) == Done("COMPLETED")
    # Then the payment is completed with the charge that was found, never failed
    assert repo.get("pay_1").provider_charge_id == "ch_hidden"


def test_a_dead_letter_also_finds_a_hidden_charge():
    repo, provider = seeded(), ScriptedProvider(OK)
    provider.found = ChargeResult("succeeded", "ch_hidden")
    run(repo, provider, "payment.start_processing", 1)
    fail_dead_command(command("payment.charge", 2), payments=repo, provider=provider)
    assert repo.get("pay_1").status == PaymentStatus.COMPLETED


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(30, 5) == 900
