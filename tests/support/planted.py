"""Planted faults: mutations of production modules, applied in a fresh process before the simulation
runs (python tests/support/planted.py NAME --seed N --payments M). The simulator knows nothing of
them: only its invariants can tell that the code is wrong."""

from __future__ import annotations

import inspect
import sys
import textwrap
from typing import Any, Callable


def _everywhere(module: Any, name: str, new: Any) -> None:
    """Replace ``module.name`` and every binding of it made by ``from module import name``."""
    old = getattr(module, name)
    for loaded in list(sys.modules.values()):
        if loaded is not None and getattr(loaded, name, None) is old:
            setattr(loaded, name, new)


def _mutate(module: Any, function: str, old: str, new: str) -> None:
    """Redefine ``module.function`` from its own source with ``old`` replaced by ``new``."""
    source = textwrap.dedent(inspect.getsource(getattr(module, function)))
    assert old in source, (function, old)
    exec(compile(source.replace(old, new), module.__file__, "exec"), module.__dict__)  # noqa: S102


def charge_key_per_try() -> None:
    """The charge's idempotency condition dropped: each try asks the provider with a key of its own."""
    from paygate.services.funding import failover
    from paygate.services.ports.provider import ProviderUnavailable

    def charge(card: Any, payment: Any, attempt: Any) -> Any:
        provider_id, reference = attempt
        for tries in range(1, failover.IN_PROCESS_TRIES + 1):
            try:
                return card.connector(provider_id).charge(
                    reference=reference, amount=payment.amount, currency=payment.currency,
                    token=card.method.token, idempotency_key=f"{reference}-{card.ctx.attempt}-{tries}")
            except ProviderUnavailable:
                if tries == failover.IN_PROCESS_TRIES:
                    raise
        raise AssertionError("unreachable")

    failover._charge_with_retries = charge  # type: ignore[assignment]


def skip_lookup() -> None:
    """A callback or reconciliation settles a payment without asking the provider: it stays pending."""
    from paygate.services.commands.outcomes import Done
    from paygate.services.funding import card

    card.CardFunding.settle = lambda self, record, meta: Done("pending at the provider")  # type: ignore[method-assign]


def hold_resolved_twice() -> None:
    """A capture or release no longer removes the hold from the wallet's open holds (nor requires it
    there): the hold can be released again."""
    from paygate.adapters.dynamodb import wallets

    original = wallets.wallet_update

    def update(m: Any) -> dict[str, Any]:
        out = original(m)
        if m.hold == "resolve":
            out["UpdateExpression"] = out["UpdateExpression"].split(" REMOVE ")[0]
            out["ConditionExpression"] = out["ConditionExpression"].replace(" AND attribute_exists(holds.#p)", "")
            out["ExpressionAttributeNames"].pop("#p", None)
        return out

    _everywhere(wallets, "wallet_update", update)


def fail_over_unknown_outcome() -> None:
    """A lost answer is taken for no charge: the payment fails over without settling its unknown
    outcome at the provider it was at."""
    from paygate.services.funding import failover

    failover._no_charge_at = lambda card, payment, attempt, exc: True  # type: ignore[assignment]


def publish_before_write() -> None:
    """A payment's new events are published to the merchants (the webhooks queue) before the
    conditional write that records them: a write that then fails or never lands leaves a webhook for a
    state never stored."""
    from paygate.adapters.dynamodb.payments import PaymentsTable
    from paygate.container import get_container
    from paygate.services.ports.records import Change
    from paygate.services.relay import plan

    original = PaymentsTable.append

    def append(self: Any, before: Any, events: Any, after: Any, meta: Any) -> Any:
        c = get_container()
        written = before.then(events, after, meta.traceparent)
        _, hooks = plan([Change("", before.state.version, written)], c.settings.commands_queue_url,
                        c.settings.webhooks_queue_url)
        c.publisher.publish(hooks.queue_url, [m for _, m in hooks.messages])
        return original(self, before, events, after, meta)

    PaymentsTable.append = append  # type: ignore[method-assign]


def stale_command_applies() -> None:
    """The processor acts on a payment whatever its state: a copy of a command that comes after the
    work was done (or one behind the payment's version) is applied again."""
    from paygate.services import processing

    _mutate(processing, "process_payment", "if payment.is_terminal or payment.version < command.expected_version:",
            "if False:")


PLANTED: dict[str, Callable[[], None]] = {f.__name__: f for f in (charge_key_per_try, skip_lookup,
                                                                   hold_resolved_twice, fail_over_unknown_outcome,
                                                                   publish_before_write, stale_command_applies)}

if __name__ == "__main__":
    PLANTED[sys.argv[1]]()
    from paygate_sim.__main__ import main

    sys.exit(main(sys.argv[2:]))
