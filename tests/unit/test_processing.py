"""The processor's decisions, with an in-memory repository and a scripted provider."""

import pytest
from fakes import FakePayments, ScriptedProvider, command_context, unavailable

from paygate.domain import payment as d
from paygate.domain.methods import CardMethod, UnknownPaymentMethod, method_of
from paygate.domain.money import Money
from paygate.domain.payment import PaymentStatus
from paygate.schemas.messages import Command
from paygate.services.commands.context import backoff
from paygate.services.commands.outcomes import Done, RetryLater
from paygate.services.commands.runner import run_command
from paygate.services.ports.idempotency import IdempotencyRecord
from paygate.services.ports.payments import PaymentRecord
from paygate.services.ports.provider import ChargeResult, ProviderRejected
from paygate.services.ports.records import EventMeta
from paygate.services.processing import fail_dead_command

NOW = "2026-01-01T00:00:00.000Z"
OK = ChargeResult("succeeded", "ch_1")


def seeded(token="tok_success"):
    repo = FakePayments()
    payment, event = d.open_payment(payment_id="pay_1", event_id="evt_1", merchant_id="m",
                                    money=Money.of(500, "EUR"), payment_method=CardMethod(token), now=NOW)
    repo.create(PaymentRecord(payment, (event,), ("00-t-s-01",)), IdempotencyRecord("m#k", "f", "pay_1", 99), 0)
    return repo


def run(repo, provider, version=1, attempt=1, max_attempts=5, time_left=30.0):
    command = Command(type="payment.process", payment_id="pay_1", expected_version=version, event_id="evt_1")
    return run_command(command, command_context(repo, provider, attempt=attempt, max_attempts=max_attempts,
                                                backoff_base=5, time_left=lambda: time_left))


def types(repo):
    return [str(e.type) for e in repo.records["pay_1"].events]


def test_one_command_records_processing_and_the_charge_in_one_write():
    # Given a new payment, when its one command runs against a provider that approves
    repo, provider = seeded(), ScriptedProvider(OK)
    writes = repo.writes
    assert run(repo, provider) == Done("COMPLETED")
    # Then it went through PROCESSING to COMPLETED in a single write, charged with its id as the key
    p = repo.payment("pay_1")
    assert (p.status, p.version, p.provider_charge_id) == (PaymentStatus.COMPLETED, 3, "ch_1")
    assert types(repo) == ["payment.created", "payment.processing", "payment.completed"]
    assert repo.writes == writes + 1
    assert [(c.previous_version, c.record.state.version) for c in repo.changes[-1:]] == [(1, 3)]
    assert provider.calls[0]["idempotency_key"] == "pay_1"


@pytest.mark.parametrize("code", ["card_declined", "insufficient_funds"])
def test_a_decline_fails_the_payment_with_its_code(code):
    repo = seeded()
    run(repo, ScriptedProvider(ChargeResult("declined", "ch_2", code)))
    p = repo.payment("pay_1")
    assert p.status == PaymentStatus.FAILED and p.failure.code == code
    assert types(repo) == ["payment.created", "payment.processing", "payment.failed"]


def test_a_pending_charge_is_recorded_processing_alone():
    repo = seeded()
    assert run(repo, ScriptedProvider(ChargeResult("pending", "ch_3"))) == Done("pending at the provider")
    assert repo.payment("pay_1").status == PaymentStatus.PROCESSING
    assert types(repo) == ["payment.created", "payment.processing"]


def test_transient_errors_are_retried_in_process_then_succeed():
    repo, provider = seeded(), ScriptedProvider(unavailable(), unavailable(), OK)
    assert run(repo, provider) == Done("COMPLETED")
    assert len(provider.calls) == 3 and {c["idempotency_key"] for c in provider.calls} == {"pay_1"}


def test_a_provider_that_stays_down_is_recorded_processing_and_retried_later_with_backoff():
    repo = seeded()
    outcome = run(repo, ScriptedProvider(unavailable()), attempt=2)
    assert isinstance(outcome, RetryLater) and outcome.seconds == backoff(2, 5) == 10
    # The merchant sees it in progress while the command waits; the retry resumes from there.
    assert repo.payment("pay_1").status == PaymentStatus.PROCESSING
    assert run(repo, ScriptedProvider(OK), attempt=3) == Done("COMPLETED")
    assert types(repo) == ["payment.created", "payment.processing", "payment.completed"]


def test_on_the_last_attempt_the_payment_fails_provider_unavailable_never_stuck():
    repo = seeded()
    assert run(repo, ScriptedProvider(unavailable()), attempt=5, max_attempts=5) == Done("FAILED")
    assert repo.payment("pay_1").failure.code == "provider_unavailable"


def test_a_charge_the_provider_made_after_all_completes_the_payment_instead_of_failing_it():
    repo, provider = seeded(), ScriptedProvider(unavailable())
    provider.found = ChargeResult("succeeded", "ch_hidden")
    assert run(repo, provider, attempt=5, max_attempts=5) == Done("COMPLETED")
    assert repo.payment("pay_1").provider_charge_id == "ch_hidden"


def test_a_provider_refusal_fails_the_payment_without_retry():
    repo, provider = seeded(), ScriptedProvider(ProviderRejected("HTTP 400"))
    assert run(repo, provider) == Done("FAILED")
    assert repo.payment("pay_1").failure.code == "provider_rejected" and len(provider.calls) == 1


def test_an_unknown_payment_method_is_never_a_payment():
    # The method is typed: one the gateway does not know cannot be read back, let alone charged
    # (none reaches it through the API, whose body allows only a card or a wallet).
    with pytest.raises(UnknownPaymentMethod):
        method_of({"type": "bank_transfer", "iban": "DE00"})
    assert method_of({"type": "card", "token": "tok_success"}) == CardMethod("tok_success")


def test_duplicate_and_stale_commands_do_nothing():
    repo, provider = seeded(), ScriptedProvider(OK)
    run(repo, provider)
    writes = repo.writes
    assert run(repo, provider) == Done("stale")
    assert repo.writes == writes and len(provider.calls) == 1


def test_a_command_newer_than_the_payment_is_not_applied():
    repo, provider = seeded(), ScriptedProvider(OK)
    assert run(repo, provider, version=2) == Done("stale")
    assert repo.payment("pay_1").status == PaymentStatus.NEW and provider.calls == []


def test_no_provider_call_is_started_without_time_to_finish_it():
    repo, provider = seeded(), ScriptedProvider(OK)
    assert run(repo, provider, time_left=3.0) == RetryLater(0, "no time left in this invocation for a provider call")
    assert provider.calls == [] and repo.payment("pay_1").status == PaymentStatus.NEW


def test_a_write_that_loses_a_race_reads_again_and_decides_again():
    repo = seeded()

    class Racing(ScriptedProvider):
        def charge(self, **kwargs):
            result = super().charge(**kwargs)
            if len(self.calls) == 1:  # another writer records PROCESSING first, behind our back
                record = repo.get("pay_1")
                started, event = d.start_processing(record.state, event_id="evt_other", now=NOW)
                repo.append(record, [event], started, EventMeta())
            return result

    racing = Racing(OK)
    assert run(repo, racing) == Done("COMPLETED")
    # The first write found version 2, not 1: read again, charged again with the same key (the
    # provider answers with the same charge), and completed on top of the other writer's event.
    assert types(repo) == ["payment.created", "payment.processing", "payment.completed"]
    assert [c["idempotency_key"] for c in racing.calls] == ["pay_1", "pay_1"]


def test_backoff_doubles_and_is_capped():
    assert [backoff(a, 5) for a in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(20, 5) == 900


def test_a_dead_lettered_command_ends_its_payment_failed_through_processing():
    repo = seeded()
    command = Command(type="payment.process", payment_id="pay_1", expected_version=1, event_id="evt_1")
    assert fail_dead_command(command, command_context(repo, ScriptedProvider(OK))) == Done("FAILED")
    p = repo.payment("pay_1")
    assert p.status == PaymentStatus.FAILED and p.failure.code == "processing_error"
    assert types(repo) == ["payment.created", "payment.processing", "payment.failed"]


def test_a_dead_letter_also_finds_a_hidden_charge():
    repo, provider = seeded(), ScriptedProvider(OK)
    provider.found = ChargeResult("succeeded", "ch_found")
    command = Command(type="payment.process", payment_id="pay_1", expected_version=1, event_id="evt_1")
    assert fail_dead_command(command, command_context(repo, provider)) == Done("COMPLETED")
    assert repo.payment("pay_1").provider_charge_id == "ch_found"
