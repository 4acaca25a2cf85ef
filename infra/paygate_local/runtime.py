"""``LocalRuntime``: the whole SAM template on one machine, no Docker, no network.

Start order: backend (moto in-process, or a given endpoint) -> tables and queues from the
template (and the state a previous run saved: ``checkpoints.py``) -> the Lambda service, one pool
of workers per function (``lambda_/``) -> the API Gateway server (``apigateway/``) -> the pollers of
each SQS, DynamoDB stream and schedule event (``event_sources/``). Stop order is the reverse, and
every thread and worker process ends. Everything listens on 127.0.0.1.

With moto in this process the pollers read its backend objects directly and sleep until its hooks
say something changed; with any other backend they use boto3 as Lambda does.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from paygate_local.apigateway.server import ApiGateway
from paygate_local.backends.backend import Backend
from paygate_local.backends.moto.state import MotoCheckpointer, Restored
from paygate_local.backends.provision import provision
from paygate_local.checkpoints import Checkpoints
from paygate_local.event_sources.mappings import EventSources, Poller, concurrent_invocations
from paygate_local.event_sources.transports import LONG_POLL_SECONDS
from paygate_local.lambda_ import interpreters as lambda_envs
from paygate_local.lambda_.environment import function_env
from paygate_local.lambda_.pool import FunctionPool, LambdaService
from paygate_local.lambda_.worker import InvocationResult
from paygate_local.observability import alarms as local_alarms
from paygate_local.observability.counters import RUNTIME_FILE, RuntimeMeter
from paygate_local.observability.jsonlog import JsonFormatter
from paygate_local.observability.shipper import LogShipper
from paygate_local.statefile import StateFile
from paygate_local.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    LAYER_TYPES,
    QUEUE_TYPE,
    TABLE_TYPES,
    FunctionSpec,
    Stack,
)

log = logging.getLogger("paygate_local")

# Concurrent invocations of one function that serves the API (each is a warm worker process,
# started on demand). A function behind event source mappings gets at least as many as its
# mappings can run at once, so that neither the pollers nor the API wait for a worker.
DEFAULT_MAX_WORKERS = int(os.environ.get("PAYGATE_DEV_MAX_WORKERS", "8"))
# A graceful stop lets the invocations under way finish for at most this long.
GRACE_SECONDS = 20.0
API_INTEGRATION_TIMEOUT = 29.0  # API Gateway's default (and, for most APIs, longest) integration timeout
TRACES_FILE = "traces/spans.jsonl"  # under the state directory: the functions' spans (tracing.py)


class LocalRuntime:
    """Run ``template_path`` locally. Use as a context manager, or call ``start()``/``stop()``
    (once each: a stopped runtime is not restarted; make a new one).

    After ``start()``: ``api_url``, ``aws_endpoint_url``, ``resources``, ``env_for(logical_id)``,
    ``invoke(logical_id, event)``; function logs are in ``log_dir`` (one file per logical id).
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        state_dir: str | Path = ".paygate",
        backend: str = "moto",
        parameter_overrides: dict[str, Any] | None = None,
        api_port: int = 3000,
        stack_name: str = DEFAULT_STACK_NAME,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        host: str = "127.0.0.1",
        max_workers_per_function: int = DEFAULT_MAX_WORKERS,
        prewarm: bool = True,
        lambda_envs_dir: str | Path | None = None,
        long_poll_seconds: int = LONG_POLL_SECONDS,
        meter_dir: str | Path | None = None,
        state: StateFile | None = None,
        ship_logs: bool = True,
        alarm_interval: float | None = local_alarms.TICK_SECONDS,
        alarm_clock: Any = time.time,
        providers: dict[str, str] | None = None,
        debug: dict[str, dict] | None = None,
        api_timeout: float = API_INTEGRATION_TIMEOUT,
    ):
        """``providers``: the payment providers' URLs by name, for the chaos API (default: PROVIDER_URL);
        ``debug``: logical id -> debugpy settings (``FunctionPool``); ``api_timeout``: API Gateway's, in s."""
        self.template_path = Path(template_path).resolve()
        self.parameter_overrides = dict(parameter_overrides or {})
        self.stack_kwargs = {"stack_name": stack_name, "region": region, "account_id": account_id}
        self.providers = dict(providers or {})
        self.debug = dict(debug or {})
        self.api_timeout = api_timeout
        self.state_dir = Path(state_dir).resolve()
        self.log_dir = self.state_dir / "logs"
        self.traces_file = self.state_dir / TRACES_FILE
        self.region = region
        self.account_id = account_id
        self.host = host
        self.api_port = api_port
        self.max_workers_per_function = max_workers_per_function
        self.prewarm = prewarm
        self.lambda_envs_dir = Path(lambda_envs_dir) if lambda_envs_dir else None
        self.long_poll_seconds = long_poll_seconds  # SQS WaitTimeSeconds against a remote backend
        self.interpreters: dict[str, lambda_envs.Interpreter] = {}  # logical id -> what it runs on
        if backend == "localstack" and account_id == DEFAULT_ACCOUNT_ID:
            # LocalStack keeps everything in account 000000000000 (access key "test"): ARNs resolved
            # from the template (a RedrivePolicy's DLQ above all) must name that account.
            from paygate_local.backends.localstack import ACCOUNT_ID as LOCALSTACK_ACCOUNT_ID

            account_id = self.account_id = LOCALSTACK_ACCOUNT_ID
        # Parsing and parameter checks happen here, so that a bad template fails before anything starts.
        self.stack_kwargs["account_id"] = account_id
        self.stack = Stack.from_file(self.template_path, parameter_overrides=parameter_overrides, **self.stack_kwargs)
        self.backend = Backend(backend, region=region, host=host, state_dir=self.state_dir,
                               keep_state=state is not None)
        # With a meter_dir (make bench, PAYGATE_METER=1) the counters are written there (counters.py);
        # bench's own meters, when it injects them, write beside them.
        self.meter_dir = Path(meter_dir).resolve() if meter_dir else None
        self.meter = RuntimeMeter(self.meter_dir / RUNTIME_FILE if self.meter_dir else None)
        self.lambda_service = LambdaService(self.meter)
        self.functions: dict[str, FunctionSpec] = {}
        self.api: ApiGateway | None = None
        changed = threading.Event()  # something to checkpoint: the checkpoint loop sleeps on it
        self.event_sources = EventSources(
            self.lambda_service.invoke, region=region, account_id=account_id, meter=self.meter,
            log_path=self.function_log, on_progress=changed.set, long_poll_seconds=long_poll_seconds)
        self._log_handler: logging.Handler | None = None
        # Function logs to CloudWatch Logs of the backend, EMF lines to its metrics (shipper.py).
        self.ship_logs = ship_logs
        self.log_shipper: LogShipper | None = None
        # The AWS/Lambda and AWS/SQS metrics published and the template's alarms evaluated every
        # alarm_interval seconds (None: only when alarms.tick() is called), on alarm_clock's time.
        self.alarm_interval, self._alarm_clock = alarm_interval, alarm_clock
        self.alarms: local_alarms.AlarmWatch | None = None
        self._started = False
        self._stopped = False
        # With a state file (paygate dev), the embedded backend's state is restored at start and
        # checkpointed while it runs; a LocalStack started here keeps its own (localstack.py), and
        # the stream mappings' positions are saved to resume from (checkpoints.py).
        self.state = state
        self.checkpoints = Checkpoints(state, self.event_sources, changed)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalRuntime:
        if self._started:
            return self
        self._started = True
        began = time.monotonic()
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._attach_log_file()
            self.backend.start()
            self._start_metering()
            provision(self.stack, self.backend)
            if self.backend.started_here:
                self.checkpoints.restore(self.stack, account_id=self.account_id, region=self.region)
            self.functions = {f.logical_id: f for f in self.stack.functions()}
            self.interpreters = lambda_envs.select_each(self.functions.values(), self.lambda_envs_dir)
            for spec in self.functions.values():
                for note in spec.check():
                    log.warning("%s", note)
                self.lambda_service.add(self.make_pool(spec))
            self._start_log_shipper()
            self._start_alarms()
            self._start_api()
            self._start_pollers()
            self.checkpoints.start()
            if self.prewarm:
                self.lambda_service.prewarm()
        except BaseException:
            self.stop()
            raise
        log.info("local runtime up in %.2f s: api %s, backend %s", time.monotonic() - began,
                 self.api_url, self.aws_endpoint_url)
        return self

    def stop(self, graceful: bool = False, grace: float = GRACE_SECONDS) -> None:
        """Stop pollers, the API server, every worker process and the backend we started.

        ``graceful``: first stop taking requests and messages, let the invocations under way finish
        (within ``grace`` seconds, after which they are cut off), and save a last checkpoint; what
        is still queued continues after the next start. Otherwise everything stops at once, and the
        next start resumes from the last checkpoint. A second call does nothing."""
        if self._stopped:
            return
        if graceful and self._started:
            deadline = time.monotonic() + grace
            if self.api is not None:
                self.api.drain(grace)
            self.event_sources.stop(deadline)
            self.checkpoints.stop(final=True)
        self.event_sources.wake()
        if self.api is not None:
            self.api.stop()
        self.lambda_service.close()  # in-flight invocations fail fast instead of running on
        self.event_sources.stop(time.monotonic() + 10)
        self.checkpoints.stop(final=False)
        if self.alarms is not None:
            self.alarms.stop()
        if self.log_shipper is not None:
            self.log_shipper.stop()  # what the last invocations wrote, before the backend goes
        self.backend.stop()
        self._stopped = True
        self.meter.flush()
        if self._log_handler is not None:
            log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- public facts

    @property
    def pollers(self) -> list[Poller]:
        """The event sources' pollers (one per SQS event, stream event and schedule)."""
        return self.event_sources.pollers

    @property
    def checkpointer(self) -> MotoCheckpointer | None:
        return self.checkpoints.checkpointer

    @property
    def restored(self) -> Restored | None:
        """What the start restored into the embedded backend (None: nothing was, or another backend)."""
        return self.checkpoints.restored

    def checkpoint(self) -> bool:
        """Save what changed since the last checkpoint (False: nothing had)."""
        return self.checkpoints.save()

    def finished_stream_positions(self) -> dict[str, int | None]:
        """Per table, the last stream sequence number every mapping of its stream is done with."""
        return self.event_sources.finished_stream_positions()

    @property
    def api_url(self) -> str | None:
        return self.api.url if self.api else None

    @property
    def aws_endpoint_url(self) -> str | None:
        return self.backend.url

    @property
    def stack_name(self) -> str:
        return self.stack.stack_name

    def function_log(self, logical_id: str) -> Path:
        return self.log_dir / f"{logical_id}.log"

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Logical id -> {type, physical_id (what Ref gives), name, arn, url | stream_arn}."""
        out: dict[str, dict[str, Any]] = {}
        for lid, res in self.stack.resources.items():
            rtype = res.get("Type")
            if not self.stack.included(lid):
                continue
            entry: dict[str, Any] = {"type": rtype}
            if rtype in TABLE_TYPES or rtype == QUEUE_TYPE or rtype == FUNCTION_TYPE \
                    or rtype in LAYER_TYPES:
                entry["name"] = self.stack.physical_name(lid)
                entry["physical_id"] = self.stack.ref(lid)
                entry["arn"] = self.stack.get_att(lid, "Arn")
            if rtype == QUEUE_TYPE:
                entry["url"] = self.stack.get_att(lid, "QueueUrl")
            if rtype in TABLE_TYPES and lid in self.stack.tables_with_streams():
                entry["stream_arn"] = self.stack.get_att(lid, "StreamArn")
            out[lid] = entry
        return out

    def env_for(self, logical_id: str) -> dict[str, str]:
        """A function's complete environment, as its worker process gets it (``function_env``)."""
        spec = self.functions.get(logical_id) or self.stack.function(logical_id)
        if self.backend.url is None:
            raise RuntimeError("start() the runtime first: the backend URL is not known yet")
        return function_env(spec, self.backend.url, self.region, traces_file=self.traces_file)

    def api_function_ids(self) -> list[str]:
        """The functions that serve at least one Api event, in template order."""
        specs = self.functions.values() if self.functions else self.stack.functions()
        return [f.logical_id for f in specs if f.api_routes]

    def load_stack(self) -> Stack:
        """The template read again, as at start (hot reload compares it with ``stack``)."""
        stack = Stack.from_file(self.template_path, parameter_overrides=self.parameter_overrides, **self.stack_kwargs)
        stack.adopt_attributes(self.stack)
        return stack

    def apply_template(self, stack: Stack, changed: list[FunctionSpec], routes: bool) -> None:
        """A reloaded template whose changes can apply in place (``controls/reload.py`` decides)."""
        self.stack = stack
        self.functions = {f.logical_id: f for f in stack.functions()}
        for spec in changed:
            old = self.lambda_service.pools[spec.logical_id]
            self.lambda_service.add(self.make_pool(spec))
            threading.Thread(target=old.close, name=f"retire-{spec.logical_id}", daemon=True).start()
        if routes and self.api is not None:
            self.api.set_routes([r for f in self.functions.values() for r in f.api_routes])

    def make_pool(self, spec: FunctionSpec) -> FunctionPool:
        """The workers of one function of ``functions`` (a reload puts its new spec there first)."""
        env = self.env_for(spec.logical_id)
        providers = self.providers or ({"sandbox": env["PROVIDER_URL"]} if env.get("PROVIDER_URL") else None)
        interpreter = self.interpreters.get(spec.logical_id) or lambda_envs.select(spec.runtime, self.lambda_envs_dir)
        return FunctionPool(spec, env, self.function_log(spec.logical_id), max_workers=self._pool_size(spec),
                            python=interpreter.python, providers=providers, debug=self.debug.get(spec.logical_id))

    def invoke(self, logical_id: str, event: Any) -> InvocationResult:
        """Invoke a function directly (RequestResponse); ``.payload`` or ``.error`` on the result."""
        return self.lambda_service.invoke(logical_id, event)

    def counters(self) -> dict[str, Any]:
        """What the runtime did for the stack so far, as counters.py's runtime.json lays it out: Lambda
        invocations by logical id, API requests, the requests the event source mappings made to each
        queue and to the streams (as AWS bills them: one long poll is one ReceiveMessage)."""
        return self.meter.snapshot()

    # ---------------------------------------------------------------- internals

    def _start_metering(self) -> None:
        """A fresh meter directory, and the runtime's counters file in it before anything runs (the
        bench's sign that this gateway writes its own counters)."""
        if self.meter_dir is None:
            return
        shutil.rmtree(self.meter_dir, ignore_errors=True)
        self.meter_dir.mkdir(parents=True, exist_ok=True)
        self.meter.flush()

    def _start_log_shipper(self) -> None:
        if not self.ship_logs:
            return
        sources = {lid: (self.function_log(lid), spec.name) for lid, spec in self.functions.items()}
        self.log_shipper = LogShipper(sources, self.backend.client).start()
        self.lambda_service.listeners.append(self.log_shipper.notify)

    def _start_alarms(self) -> None:
        def counts() -> dict[str, tuple[int, int]]:
            return {e["name"]: (e["invocations"], e["errors"]) for e in self.meter.snapshot()["lambda"].values()}

        from paygate_local.observability.awsmetrics import moto_depths

        shipper = self.log_shipper
        self.alarms = local_alarms.watch(
            self.stack, self.backend.client, counts, interval=self.alarm_interval or local_alarms.TICK_SECONDS,
            clock=self._alarm_clock, other_data=(lambda: shipper.stats.metric_data) if shipper else None,
            depths=moto_depths(self.account_id, self.region) if self.backend.in_process else None)
        if self.alarm_interval:
            self.alarms.start()

    def _attach_log_file(self) -> None:
        handler = logging.FileHandler(self.log_dir / "runtime.log", encoding="utf-8")
        handler.setFormatter(JsonFormatter())
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        log.addHandler(handler)
        self._log_handler = handler

    def _pool_size(self, spec: FunctionSpec) -> int:
        """Workers enough for the API's concurrent requests, or for all its mappings' pollers at once."""
        mappings = concurrent_invocations(spec)
        return max(self.max_workers_per_function if spec.api_routes or not mappings else 1, mappings)

    def _start_api(self) -> None:
        routes = [r for f in self.functions.values() for r in f.api_routes]
        stage = ((self.stack.template.get("Globals") or {}).get("Api") or {}).get("StageName")
        self.api = ApiGateway(routes, self.lambda_service.invoke, host=self.host,
                              port=self.api_port, stage=str(self.stack.resolve(stage) or "Prod"),
                              account_id=self.account_id,
                              access_log_path=self.log_dir / "api.log", meter=self.meter,
                              integration_timeout=self.api_timeout)
        self.api.start()
        self.api_port = self.api.port  # the one actually chosen when 0 was asked for

    def _start_pollers(self) -> None:
        # moto's restored stream holds only the records not yet done; with another backend a stream
        # mapping resumes from the position saved in the state file.
        in_process = self.backend.in_process
        self.event_sources.start(
            self.functions.values(), in_process=in_process, client=self.backend.client,
            queue_urls={q.arn: self.stack.get_att(q.logical_id, "QueueUrl") for q in self.stack.queues()},
            tables_with_streams=self.stack.tables_with_streams(), resume_from=None if in_process else self.state)
