"""Runs a command with the service function the workflow table names for it.

The table names functions as "module.function" under paygate.services (the pure domain depends on
nothing above it); the modules are imported here, once, and a unit test checks that every name
resolves.
"""

from __future__ import annotations

from types import ModuleType
from typing import Callable

from paygate.domain.workflow import all_steps, step_for
from paygate.schemas.messages import Command
from paygate.services import cancellation, orders, processing, refunds
from paygate.services.commands.context import CommandContext
from paygate.services.commands.outcomes import Outcome

Runner = Callable[[Command, CommandContext], Outcome]

MODULES: dict[str, ModuleType] = {m.__name__.rpartition(".")[2]: m for m in (processing, cancellation, refunds, orders)}


def runner(name: str) -> Runner:
    """'processing.process_payment' -> paygate.services.processing.process_payment."""
    module, _, function = name.rpartition(".")
    found = getattr(MODULES.get(module), function, None)
    if not callable(found):
        raise LookupError(f"the workflow names {name!r}, which is not a service function")
    return found


def run_command(command: Command, ctx: CommandContext) -> Outcome:
    return runner(step_for(command.type).runs)(command, ctx)


def runners() -> dict[str, Runner]:
    """Every command of the workflow with the function that runs it (resolving them all checks the table)."""
    return {str(step.command): runner(step.runs) for step in all_steps()}


def run_dead_command(command: Command, ctx: CommandContext) -> Outcome:
    """A command that reached the dead-letter queue, settled by the function its step names."""
    return runner(step_for(command.type).settles_dead)(command, ctx)


def dead_runners() -> dict[str, Runner]:
    return {str(step.command): runner(step.settles_dead) for step in all_steps()}
