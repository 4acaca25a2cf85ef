"""One simulation run: the world, the sources, the clients, the faults, the invariants; the JSON
line of DESIGN.md ("Simulation interface")."""

from __future__ import annotations

import random
import time
from typing import Any

from paygate_sim.clients import Clients
from paygate_sim.engine import START, Faults, History, Scheduler
from paygate_sim.fast import flat_sqs
from paygate_sim.invariants import Report, check_delivered_were_recorded, check_provider, check_store, scan
from paygate_sim.models import Endpoints, OpenGuard, ProviderModel
from paygate_sim.sources import Invoker, QueueSource, StreamSource, dumps
from paygate_sim.world import World, api_event

ARRIVAL_INTERVAL = 0.02  # virtual seconds between two payments: 50 a second
RECONCILE_EVERY = 60.0
TAIL = 1300.0  # after the last arrival: late callbacks (900 s) and reconciliation (600 s) have their turn
TAIL_LIMIT = 4 * 3600.0
PROVIDERS = ("sandbox", "sandbox-b")  # the merchants' route: a payment fails over from one to the other
OUTAGE_EVERY, OUTAGE_CHANCE = 20.0, 0.25


def simulate(seed: int, payments: int, *, faults_on: bool = True) -> dict[str, Any]:
    import time_machine
    from moto import mock_aws

    from paygate_local.backends.moto import patches as moto_patches

    started, cpu = time.monotonic(), time.process_time()
    history = History()
    faults = Faults(random.Random(seed))

    epoch = START.timestamp()
    clock: list[Scheduler] = []
    with time_machine.travel(START, tick=False) as traveller, moto_patches.patched(), mock_aws(), \
            flat_sqs(lambda: epoch + clock[0].now):
        scheduler = Scheduler(traveller, history)
        clock.append(scheduler)
        real_sleep, time.sleep = time.sleep, scheduler.advance  # a backoff in the code passes in virtual time
        world = World(seed, faults.aws_hook)
        invoke = Invoker(world, scheduler, faults, history)
        providers = [ProviderModel(name, faults.draw, later=lambda d, fn: scheduler.after(d, "provider", fn),
                                   post_callback=lambda event, name=name: _callback(world, scheduler, invoke, history,
                                                                                    name, event),
                                   now=lambda: scheduler.now) for name in PROVIDERS]
        endpoints = Endpoints(lambda kind: faults.count(kind) if faults.enabled else None, lambda: scheduler.now)
        world.install(connectors={p.name: p for p in providers}, transport=endpoints, guard=OpenGuard())
        clients = Clients(world, scheduler, faults, history, invoke)
        faults.enabled = False
        clients.setup(merchants=8, wallets_per_merchant=2)
        faults.enabled = faults_on
        from paygate_local.observability.counters import RuntimeMeter

        meter = RuntimeMeter(None)
        stream = StreamSource(world, "RelayFunction", invoke, scheduler, faults, meter, 0.05)
        queues = [QueueSource(world, f, invoke, scheduler, faults, meter, i) for f, i in
                  (("ProcessorFunction", 0.1), ("WebhooksFunction", 0.2), ("DeadLetterFunction", 2.0),
                   ("WebhookDeadLetterFunction", 2.0))]
        for source in (stream, *queues):
            source.start()
        report = Report()
        seen: set[str] = set()

        def reconcile() -> None:
            invoke("ReconcileFunction", {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
            scheduler.after(RECONCILE_EVERY, "reconcile", reconcile)

        def watch() -> None:
            check_provider(report, providers, history.step, seen)
            scheduler.after(30.0, "watch", watch)

        def outage() -> None:  # now and then a provider is down for a stretch: the breaker, failover
            if faults.draw("provider_down", OUTAGE_CHANCE):
                faults.rng.choice(providers).go_down(faults.rng.uniform(5.0, 15.0))
            scheduler.after(OUTAGE_EVERY, "outage", outage)

        scheduler.after(RECONCILE_EVERY, "reconcile", reconcile)
        scheduler.after(30.0, "watch", watch)
        scheduler.after(OUTAGE_EVERY, "outage", outage)
        for n in range(payments):
            clients.arrive(n, n * ARRIVAL_INTERVAL * faults.rng.uniform(0.5, 1.5))
        arrive_end = payments * ARRIVAL_INTERVAL * 1.5 + 120.0  # the last refunds come up to 120 s later
        scheduler.run_until(lambda: False, arrive_end)
        faults.enabled = False  # faults stop: from here on, liveness
        history.add(scheduler.now, "faults stop")

        def idle() -> bool:
            return (stream.caught_up() and all(q.backlog() == 0 for q in queues) and clients.open_calls == 0)

        scheduler.run_until(lambda: False, arrive_end + TAIL)
        while not idle() and scheduler.now < arrive_end + TAIL_LIMIT:
            scheduler.run_until(lambda: False, scheduler.now + 60.0)
        check_provider(report, providers, history.step, seen)
        aggregates = scan(world.direct_dynamodb, world.env["AGGREGATES_TABLE"])
        checked = check_store(report, aggregates, providers, history.step)
        _relay_dead_letters(report, world, history.step)
        _webhooks(report, world, clients, endpoints, history.step)
        check_delivered_were_recorded(report, aggregates, endpoints.received, history.step)
        out = {
            "seed": seed, "payments": payments, "steps": history.step,
            "faults": dict(sorted(faults.counts.items())),
            "invariants": report.summary(),
            "history_hash": history.digest,
            "seconds": round(time.monotonic() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "virtual_seconds": round(scheduler.now, 1),
            "checked": checked, "invocations": dict(sorted(invoke.invocations.items())),
            "aws_calls": sum(world.direct_dynamodb.calls.values()) + sum(world.direct_sqs.calls.values()),
            "provider_calls": {p.name: p.calls for p in providers}, "webhook_posts": endpoints.posts,
        }
        if not report.ok:
            out["history_tail"] = list(history.recent)
        time.sleep = real_sleep
        return out


def _callback(world: World, scheduler: Scheduler, invoke: Invoker, history: History, provider: str,
              event: dict[str, Any], attempt: int = 1) -> None:
    """The provider POSTs its signed callback to the gateway; it tries again if not accepted."""
    from sandbox_provider.callbacks import sign_callback

    body = dumps(event)
    signature = sign_callback(world.env["PROVIDER_CALLBACK_SECRET"], body, int(START.timestamp() + scheduler.now))
    result = invoke("CallbacksFunction", api_event("POST", f"/callbacks/{provider}", event,
                                                   {"sandbox-signature": signature}, f"cb-{event['id']}-{attempt}"))
    status = int((result.payload or {}).get("statusCode", 0)) if result.ok else 0
    history.add(scheduler.now, f"callback {event['id']} {event['data']['reference']} -> {status}")
    if not 200 <= status < 300 and attempt < 6:
        scheduler.after(0.25 * 2 ** attempt, "callback-retry",
                        lambda: _callback(world, scheduler, invoke, history, provider, event, attempt + 1))


def _relay_dead_letters(report: Report, world: World, step: int) -> None:
    queue = world.direct_sqs.get_queue_attributes(QueueUrl=world.queue_url("RelayDLQ"),
                                                  AttributeNames=["ApproximateNumberOfMessages"])
    count = int(queue.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    if count:
        report.add("webhooks_delivered_or_dead_lettered", f"{count} stream batches given up on (RelayDLQ)", step)


def _webhooks(report: Report, world: World, clients: Clients, endpoints: Endpoints, step: int) -> None:
    """Every event recorded for a merchant reached its endpoint, or is listed among its failed deliveries."""
    items = scan(world.direct_dynamodb, world.env["EVENTS_TABLE"])
    failed_items = scan(world.direct_dynamodb, world.env["MERCHANTS_TABLE"])
    failed = {str(i.get("event_id") or i.get("event", {}).get("id", "")) for i in failed_items if "event_id" in i or "event" in i}
    by_merchant = {m.id: m for m in clients.merchants}
    for item in items:
        event_id, merchant_id = item.get("event_id") or item.get("id"), item.get("merchant_id")
        if not event_id or not str(event_id).startswith("evt_") or merchant_id not in by_merchant:
            continue
        url = by_merchant[merchant_id].endpoint_url
        if event_id not in endpoints.received.get(url, set()) and event_id not in failed:
            report.add("webhooks_delivered_or_dead_lettered", f"{event_id} ({item.get('type')}) to {url}", step)
