"""`paygate dashboard`: the template's CloudWatch dashboard drawn in the terminal, or as Grafana's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from paygate_local.cli.options import DEFAULT_STATE_DIR, StateDir, repo_root, require_dev
from paygate_local.merchants import client_kwargs


def dashboard_command(
    minutes: Annotated[int, typer.Option(help="the window: the last this many minutes")] = 60,
    name: Annotated[Optional[str], typer.Option(help="the dashboard (default: the backend's only one)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="the panels' values as JSON")] = False,
    svg: Annotated[Optional[Path], typer.Option(help="also save the view as an SVG picture here")] = None,
    grafana: Annotated[bool, typer.Option(
        "--grafana", help="print the Grafana dashboard made from template.yaml's (what docker compose provisions) "
                          "and exit; needs no gateway")] = False,
    template: Annotated[Optional[Path], typer.Option(help="with --grafana: the SAM template")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """The stack's alarms and their state, and the template's CloudWatch dashboard (payments, processing time,
    retries, webhooks, errors, queue and DLQ depth), drawn in the terminal from the running gateway's backend."""
    from paygate_local.observability import dashboard as dash

    if grafana:
        print(json.dumps(grafana_dashboard_of(template or repo_root() / "template.yaml"), indent=2))
        return 0
    import boto3

    info = require_dev(state_dir)
    kwargs = client_kwargs(info.aws_endpoint_url, info.region)
    cloudwatch = boto3.client("cloudwatch", **kwargs)
    try:
        board, body = dash.load(cloudwatch, name)
    except dash.DashboardError as exc:
        print(f"paygate dashboard: {exc}", file=sys.stderr)
        return 1
    evaluator = dash.Evaluator(cloudwatch, boto3.client("logs", **kwargs), boto3.client("sqs", **kwargs),
                               minutes=minutes)
    panels = dash.evaluate(body, evaluator)
    # paygate dev's stack is always the default one; ministack.json names its own.
    from paygate_local.template.document import DEFAULT_STACK_NAME

    alarms = dash.alarm_states(cloudwatch, f"{getattr(info, 'stack_name', DEFAULT_STACK_NAME)}-")
    if json_out:
        print(json.dumps({"dashboard": board, "minutes": minutes, "alarms": [a.as_json() for a in alarms],
                          "panels": [p.as_json() for p in panels]}, indent=2))
    else:
        from rich.console import Console

        console = Console(record=svg is not None)
        if not console.is_terminal:
            console.width = 130  # piped: two panels a row
        console.print(dash.render(board, panels, minutes, alarms))
        if svg is not None:
            console.save_svg(str(svg), title=f"paygate dashboard: {board}")
    return 0


def grafana_dashboard_of(template: Path) -> dict[str, Any]:
    """Grafana's copy of the template's dashboard, for the stack docker compose deploys (paygate, us-east-1)."""
    from paygate_local.observability import dashboard as dash
    from paygate_local.template import Stack

    stack = Stack.from_file(template, stack_name="paygate", region="us-east-1")
    (logical_id,) = stack.logical_ids("AWS::CloudWatch::Dashboard")
    return dash.grafana_dashboard(json.loads(stack.resolve(stack.properties(logical_id))["DashboardBody"]))
