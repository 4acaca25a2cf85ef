"""``LocalRuntime``: the whole SAM template on one machine, no Docker, no network.

Start order: backend (moto in-process, or a given endpoint) -> tables and queues from the
template -> one worker pool per function -> the API Gateway server -> the pollers of each
SQS/DynamoDB event. Stop order is the reverse, and every thread and worker process ends.
Everything listens on 127.0.0.1.

With moto in this process the pollers read its backend objects directly and sleep until its hooks
say something changed; with any other backend they use boto3 as Lambda does (``transports.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from paygate.observability.tracing import TRACES_FILE_ENV
from paygate_local.apigateway.server import ApiGateway
from paygate_local.backends.backend import Backend
from paygate_local.backends.moto import patches as moto_patches
from paygate_local.backends.moto.state import MotoCheckpointer, Restored
from paygate_local.backends.provision import provision
from paygate_local.event_sources.pollers import (
    FIFO_MAX_POLLERS,
    STANDARD_INITIAL_POLLERS,
    STANDARD_MAX_POLLERS,
    SchedulePoller,
    SqsEventSource,
    StreamPoller,
)
from paygate_local.event_sources.transports import (
    LONG_POLL_SECONDS,
    BotoSender,
    BotoSqs,
    BotoStreams,
    MotoSender,
    MotoSqs,
    MotoStreams,
)
from paygate_local.lambda_ import interpreters as lambda_envs
from paygate_local.lambda_.workers import FunctionPool, InvocationResult, LambdaService
from paygate_local.metering import capacity
from paygate_local.metering.meter import METER_DIR_ENV, RUNTIME_FILE, RuntimeMeter
from paygate_local.observability.shipper import LogShipper
from paygate_local.statefile import CHECKPOINT_AT, StateFile
from paygate_local.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    LAYER_TYPES,
    QUEUE_TYPE,
    TABLE_TYPES,
    FunctionSpec,
    Schedule,
    SqsMapping,
    Stack,
    StreamMapping,
    TemplateError,
)

log = logging.getLogger("paygate_local")

# Concurrent invocations of one function that serves the API (each is a warm worker process,
# started on demand). A function behind event source mappings gets at least as many as its
# mappings can run at once, so that neither the pollers nor the API wait for a worker.
DEFAULT_MAX_WORKERS = int(os.environ.get("PAYGATE_DEV_MAX_WORKERS", "8"))
# A checkpoint follows the first change after the last one by this long: a crash loses at most the
# work of about this long (and an idle gateway writes nothing).
CHECKPOINT_INTERVAL = 0.5
# A graceful stop lets the invocations under way finish for at most this long.
GRACE_SECONDS = 20.0
TRACES_FILE = "traces/spans.jsonl"  # under the state directory: the functions' spans (tracing.py)
STREAM_POSITIONS = "stream.positions"  # in the state file: how far each stream mapping got (remote backends)


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
    ):
        self.template_path = Path(template_path).resolve()
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
        self.stack = Stack.from_file(self.template_path, stack_name=stack_name, region=region,
                                     account_id=account_id, parameter_overrides=parameter_overrides)
        self.backend = Backend(backend, region=region, host=host, state_dir=self.state_dir,
                               keep_state=state is not None)
        # With a meter_dir (make bench, PAYGATE_METER=1) the counters are written there, beside each
        # worker's calls file and the capacity meter's: see meter.py.
        self.meter_dir = Path(meter_dir).resolve() if meter_dir else None
        self.meter = RuntimeMeter(self.meter_dir / RUNTIME_FILE if self.meter_dir else None)
        self.lambda_service = LambdaService(self.meter)
        self.functions: dict[str, FunctionSpec] = {}
        self.api: ApiGateway | None = None
        self.pollers: list[SqsEventSource | StreamPoller] = []
        self._stop = threading.Event()
        self._queue_urls: dict[str, str] = {}  # queue ARN -> URL, filled after provisioning
        self._log_handler: logging.Handler | None = None
        # Function logs to CloudWatch Logs of the backend, EMF lines to its metrics (cloudwatch.py).
        self.ship_logs = ship_logs
        self.log_shipper: LogShipper | None = None
        self._started = False
        self._stopped = False
        # With a state file (paygate dev), the embedded backend's state is restored at start and
        # checkpointed while it runs (moto_state.py); a LocalStack started here keeps its own
        # (localstack_host.py), and the stream mappings' positions are saved here to resume from.
        self.state = state
        self._dirty = threading.Event()  # something to checkpoint: the checkpoint loop sleeps on it
        self.checkpointer: MotoCheckpointer | None = None
        self.restored: Restored | None = None
        self._checkpoints: threading.Thread | None = None
        self._checkpoints_stop = threading.Event()

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
            self._restore_state()
            self.functions = {f.logical_id: f for f in self.stack.functions()}
            self._select_interpreters()
            for spec in self.functions.values():
                self._check_function(spec)
                self.lambda_service.add(FunctionPool(
                    spec, self.env_for(spec.logical_id), self.function_log(spec.logical_id),
                    max_workers=self._pool_size(spec),
                    python=self.interpreters[spec.logical_id].python))
            self._start_log_shipper()
            self._start_api()
            self._start_pollers()
            self._start_checkpoints()
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
            self._stop_pollers(deadline)
            self._stop_checkpoints(final=True)
        self._stop.set()
        for poller in self.pollers:
            poller.wake()
        if self.api is not None:
            self.api.stop()
        self.lambda_service.close()  # in-flight invocations fail fast instead of running on
        self._stop_pollers(time.monotonic() + 10)
        self._stop_checkpoints(final=False)
        if self.log_shipper is not None:
            self.log_shipper.stop()  # what the last invocations wrote, before the backend goes
        self.backend.stop()
        self._stopped = True
        if self.meter_dir is not None:
            capacity.uninstall()
            self.meter.flush()
        if self._log_handler is not None:
            log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _stop_pollers(self, deadline: float) -> None:
        """No poller takes new work; each finishes the invocation it is in, until ``deadline``. A
        poller waiting in a remote long poll holds nothing: it is not waited for (its thread is a
        daemon and its poll ends by itself)."""
        self._stop.set()
        for poller in self.pollers:
            poller.wake()
        for poller in self.pollers:
            left = max(0.0, deadline - time.monotonic())
            if isinstance(poller, SqsEventSource) and not self.backend.in_process:
                if not poller.wait_idle(left):
                    log.warning("%s: a batch is still being processed; it is cut off", poller.name)
                continue
            poller.join(timeout=left)
            if poller.is_alive():
                log.warning("poller %s is still in a request; it ends by itself", poller.name)

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- public facts

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
            if rtype in TABLE_TYPES and lid in self._tables_with_streams():
                entry["stream_arn"] = self.stack.get_att(lid, "StreamArn")
            out[lid] = entry
        return out

    def env_for(self, logical_id: str) -> dict[str, str]:
        """A function's complete environment, as its worker process gets it (``function_env``)."""
        spec = self.functions.get(logical_id) or self.stack.function(logical_id)
        if self.backend.url is None:
            raise RuntimeError("start() the runtime first: the backend URL is not known yet")
        return function_env(spec, self.backend.url, self.region, self.meter_dir, self.traces_file)

    def function_ids(self) -> list[str]:
        """Every function's logical id, in template order."""
        return list(self.functions) if self.functions else [f.logical_id for f in self.stack.functions()]

    def api_function_ids(self) -> list[str]:
        """The functions that serve at least one Api event, in template order."""
        specs = self.functions.values() if self.functions else self.stack.functions()
        return [f.logical_id for f in specs if f.api_routes]

    def invoke(self, logical_id: str, event: Any) -> InvocationResult:
        """Invoke a function directly (RequestResponse); ``.payload`` or ``.error`` on the result."""
        return self.lambda_service.invoke(logical_id, event)

    def counters(self) -> dict[str, Any]:
        """What the runtime did for the stack so far, as meter.py's runtime.json lays it out: Lambda
        invocations by logical id, API requests, the requests the event source mappings made to each
        queue and to the streams (as AWS bills them: one long poll is one ReceiveMessage)."""
        return self.meter.snapshot()

    # ---------------------------------------------------------------- internals

    def _restore_state(self) -> None:
        """The embedded backend's saved state, back in its freshly provisioned tables and queues."""
        if self.state is None or not self.backend.started_here:
            return
        self.checkpointer = MotoCheckpointer(
            self.state, account_id=self.account_id, region=self.region,
            tables=[t.name for t in self.stack.tables()], queues=[q.name for q in self.stack.queues()],
            changed=self._dirty)
        self.restored = self.checkpointer.restore()
        log.info("state restored in %.2f s: %d items, %d stream records, %d messages", self.restored.seconds,
                 self.restored.items, self.restored.stream_records, self.restored.messages)

    def finished_stream_positions(self) -> dict[str, int | None]:
        """Per table, the last stream sequence number every mapping of its stream is done with."""
        found: dict[str, int | None] = {}
        for poller in self.pollers:
            if not isinstance(poller, StreamPoller):
                continue
            table = poller.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
            marks = [int(seq) if seq is not None else None for seq in poller.checkpoints.values()] or [None]
            mine = None if None in marks else min(marks)  # type: ignore[type-var]
            if table in found:
                mine = None if mine is None or found[table] is None else min(mine, found[table])  # type: ignore[type-var]
            found[table] = mine
        return found

    def checkpoint(self) -> bool:
        """Save what changed since the last checkpoint (False: nothing had): the embedded backend's
        state, or with another backend where each stream mapping has got to."""
        self._dirty.clear()
        if self.checkpointer is not None:
            positions = self.finished_stream_positions()  # before the backend is locked: never ahead of it
            return self.checkpointer.checkpoint(positions)
        if self.state is None:
            return False
        positions = {_mapping_key(p.mapping): {"stream_arn": p.stream_arn, "shards": p.checkpoints}
                     for p in self.pollers if isinstance(p, StreamPoller)}
        if positions == self.state.get(STREAM_POSITIONS):
            return False
        with self.state.transaction() as tx:
            tx.set(STREAM_POSITIONS, positions)
            tx.set(CHECKPOINT_AT, time.time())
        return True

    def _saved_positions(self, mapping: StreamMapping, stream_arn: str) -> dict[str, str]:
        """Where this mapping had got to in a previous run (remote backends; moto's restored stream
        holds only the records not yet done)."""
        if self.state is None or self.backend.in_process:
            return {}
        saved = (self.state.get(STREAM_POSITIONS) or {}).get(_mapping_key(mapping)) or {}
        if saved.get("stream_arn") != stream_arn:
            return {}  # another stream (the table was made anew): from its start
        return {shard: seq for shard, seq in (saved.get("shards") or {}).items() if seq}

    def _start_checkpoints(self) -> None:
        if self.state is None:
            return

        def loop() -> None:
            while not self._checkpoints_stop.is_set():
                self._dirty.wait()  # an idle gateway does not wake up
                if self._checkpoints_stop.wait(CHECKPOINT_INTERVAL):
                    return  # the last one is the stop's
                try:
                    self.checkpoint()
                except Exception:  # noqa: BLE001 - the next one saves it all again
                    log.exception("checkpoint failed")

        self._checkpoints = threading.Thread(target=loop, name="checkpoints", daemon=True)
        self._checkpoints.start()

    def _stop_checkpoints(self, final: bool) -> None:
        if self._checkpoints is not None:
            self._checkpoints_stop.set()
            self._dirty.set()
            self._checkpoints.join(timeout=10)
            self._checkpoints = None
        if final and self.state is not None:
            self.checkpoint()
        if self.checkpointer is not None and not final:
            self.checkpointer.close()

    def _start_metering(self) -> None:
        """A fresh meter directory, the runtime's file in it before anything runs (the bench's sign
        that this gateway meters itself), and DynamoDB capacity measured where moto runs."""
        if self.meter_dir is None:
            return
        shutil.rmtree(self.meter_dir, ignore_errors=True)
        self.meter_dir.mkdir(parents=True)
        self.meter.flush()
        if self.backend.started_here:
            capacity.install(self.meter_dir, lock=moto_patches.dynamodb_lock)

    def _start_log_shipper(self) -> None:
        if not self.ship_logs:
            return
        sources = {lid: (self.function_log(lid), spec.name) for lid, spec in self.functions.items()}
        self.log_shipper = LogShipper(sources, self.backend.client).start()
        self.lambda_service.listeners.append(self.log_shipper.notify)

    def _attach_log_file(self) -> None:
        handler = logging.FileHandler(self.log_dir / "runtime.log", encoding="utf-8")
        handler.setFormatter(_JsonFormatter())
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        log.addHandler(handler)
        self._log_handler = handler

    def _select_interpreters(self) -> None:
        """Each function on its Runtime's interpreter; a missing one is said once per runtime."""
        said: set[str | None] = set()
        for spec in self.functions.values():
            chosen = lambda_envs.select(spec.runtime, self.lambda_envs_dir)
            self.interpreters[spec.logical_id] = chosen
            if chosen.note and spec.runtime not in said:
                said.add(spec.runtime)
                log.warning("%s", chosen.note)
                print(f"paygate dev: note: {chosen.note}", file=sys.stderr, flush=True)

    def _sqs_concurrency(self, mapping: SqsMapping) -> tuple[int, int]:
        """(pollers to start, most pollers) for one SQS event, like Lambda's scaling."""
        fifo = mapping.queue_arn.endswith(".fifo")
        most = FIFO_MAX_POLLERS if fifo else STANDARD_MAX_POLLERS
        if mapping.maximum_concurrency:
            most = min(most, mapping.maximum_concurrency)
        return (1 if fifo else min(STANDARD_INITIAL_POLLERS, most)), most

    def _pool_size(self, spec: FunctionSpec) -> int:
        mappings = sum(self._sqs_concurrency(m)[1] for m in spec.sqs_mappings if m.enabled)
        mappings += sum(1 for m in spec.stream_mappings if m.enabled)
        return max(self.max_workers_per_function if spec.api_routes or not mappings else 1, mappings)

    def _check_function(self, spec: FunctionSpec) -> None:
        if not spec.code_dir.is_dir():
            raise TemplateError(f"{spec.logical_id}: CodeUri {spec.code_dir} is not a directory")
        for name, etype in spec.other_events.items():
            log.warning("%s: event %s of type %s is not run locally", spec.logical_id, name, etype)

    def _tables_with_streams(self) -> set[str]:
        return {t.logical_id for t in self.stack.tables()
                if (t.properties.get("StreamSpecification") or {}).get("StreamViewType")}

    def _start_api(self) -> None:
        routes = [r for f in self.functions.values() for r in f.api_routes]
        stage = ((self.stack.template.get("Globals") or {}).get("Api") or {}).get("StageName")
        self.api = ApiGateway(routes, self.lambda_service.invoke, host=self.host,
                              port=self.api_port, stage=str(self.stack.resolve(stage) or "Prod"),
                              account_id=self.account_id,
                              access_log_path=self.log_dir / "api.log", meter=self.meter)
        self.api.start()
        self.api_port = self.api.port  # the one actually chosen when 0 was asked for

    def _queue_url_for_arn(self, arn: str) -> str | None:
        if arn in self._queue_urls:
            return self._queue_urls[arn]
        try:  # a queue from outside the template, in the same backend
            return self.backend.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        except Exception:
            return None

    def _start_pollers(self) -> None:
        self._queue_urls = {q.arn: self.stack.get_att(q.logical_id, "QueueUrl")
                            for q in self.stack.queues()}
        streams_with_tables = self._tables_with_streams()
        in_process = self.backend.in_process
        sender = (MotoSender(self.meter) if in_process
                  else BotoSender(self.backend.client("sqs"), self._queue_url_for_arn, self.meter))
        for spec in self.functions.values():
            log_path = self.function_log(spec.logical_id)
            for mapping in spec.sqs_mappings:
                if not mapping.enabled:
                    continue
                url = self._queue_url_for_arn(mapping.queue_arn)
                if url is None:
                    raise TemplateError(f"{spec.logical_id}.{mapping.event}: no queue {mapping.queue_arn}")
                transport = (MotoSqs(mapping.queue_arn, self.meter) if in_process
                             else BotoSqs(self.backend.client("sqs"), url, mapping.queue_arn, self.meter,
                                          self.long_poll_seconds))
                initial, most = self._sqs_concurrency(mapping)
                self.pollers.append(SqsEventSource(
                    mapping, transport, invoke=self.lambda_service.invoke, region=self.region,
                    stop=self._stop, log_path=log_path, initial=initial, maximum=most))
            for mapping in spec.stream_mappings:
                if not mapping.enabled:
                    continue
                if mapping.table_logical_id and mapping.table_logical_id not in streams_with_tables:
                    raise TemplateError(f"{spec.logical_id}.{mapping.event}: table "
                                        f"{mapping.table_logical_id} has no StreamSpecification")
                streams = (MotoStreams(mapping.stream_arn, self.meter) if in_process
                           else BotoStreams(self.backend.client("dynamodbstreams"), mapping.stream_arn,
                                            self.meter))
                self.pollers.append(StreamPoller(
                    mapping, streams, invoke=self.lambda_service.invoke, sender=sender,
                    region=self.region, function_arn=spec.arn, stop=self._stop, log_path=log_path,
                    resume=self._saved_positions(mapping, streams.stream_arn), on_progress=self._dirty.set))
            for schedule in spec.schedules:
                interval = self._schedule_interval(schedule)
                if interval is not None:
                    self.pollers.append(SchedulePoller(
                        schedule, interval, invoke=self.lambda_service.invoke, region=self.region,
                        account_id=self.account_id, stop=self._stop, log_path=log_path))
        for poller in self.pollers:
            poller.start()

    def _schedule_interval(self, schedule: Schedule) -> float | None:
        """The schedule's rate, or PAYGATE_DEV_SCHEDULE_SECONDS for every schedule (to see a
        once-a-minute job run in seconds); cron() expressions are not run locally (said once)."""
        if not schedule.enabled:
            return None
        override = os.environ.get("PAYGATE_DEV_SCHEDULE_SECONDS")
        if override:
            return max(0.1, float(override))
        interval = schedule.interval()
        if interval is None:
            log.warning("%s.%s: %s is not run locally (only rate() schedules are)", schedule.function,
                        schedule.event, schedule.expression)
        return interval


def function_env(spec: FunctionSpec, backend_url: str, region: str, meter_dir: Path | None = None,
                 traces_file: Path | None = None) -> dict[str, str]:
    """A function's complete environment: the template's variables, the backend in use, and what
    the Lambda service sets.

    Deliberately not inherited from this process (a developer's AWS_PROFILE, proxies or session
    tokens must not leak into the functions); only PATH and a few basics are kept.
    """
    env = {k: os.environ[k] for k in ("PATH", "TMPDIR", "SYSTEMROOT") if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["LANG"] = "C.UTF-8"
    env["TZ"] = ":UTC"
    env.update(spec.environment)
    env.update({
        "AWS_ENDPOINT_URL": backend_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]local", time.gmtime()),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python'}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
    })
    if meter_dir is not None:
        env[METER_DIR_ENV] = str(meter_dir)  # each worker counts its AWS calls there (meter_hook)
    if traces_file is not None and not env.get(TRACES_FILE_ENV):
        env[TRACES_FILE_ENV] = str(traces_file)  # every span, one JSON line each (paygate trace reads it)
    return env


def _mapping_key(mapping: StreamMapping) -> str:
    return f"{mapping.function}.{mapping.event}"


class _JsonFormatter(logging.Formatter):
    """The runtime's own log as JSON lines, like the function logs next to it."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
