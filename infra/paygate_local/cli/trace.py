"""`paygate trace PAYMENT_ID`: one payment's spans, from the spans file of the `paygate dev` that ran it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR


def trace_command(
    payment_id: Annotated[str, typer.Argument(help="the payment (pay_...)")],
    json_out: Annotated[bool, typer.Option("--json", help="the spans as JSON: trace_id, span_id, parent_span_id, "
                                                           "name, service, start, end, attributes")] = False,
    state_dir: Annotated[str, typer.Option(help="the state directory of the paygate dev that ran the payment "
                                                "(its traces/spans.jsonl)")] = DEFAULT_STATE_DIR,
) -> int:
    """One payment's trace: the waterfall of its spans across api, relay, processor, provider and webhooks."""
    from paygate_local.observability import trace as traces
    from paygate_local.runtime import TRACES_FILE

    try:
        spans = traces.payment_trace(Path(state_dir) / TRACES_FILE, payment_id)
    except traces.TraceError as exc:
        print(f"paygate trace: {exc}", file=sys.stderr)
        return 1
    if json_out:
        print(json.dumps([s.as_json() for s in spans], indent=2))
        return 0
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 160  # piped: the whole waterfall, not 80 columns of it
    console.print(traces.render(spans))
    return 0
