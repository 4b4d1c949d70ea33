"""Adapters: how the harness runs the software under test for one step.

- `CommandAdapter`: a command template (argv with ``{placeholders}``, see
  `StepContext.placeholders`); the value the user types goes in as an argument (``{pin}``),
  one line on stdin, or the environment variable ``MYNASIM_PIN``. Every placeholder is also
  in the environment as ``MYNASIM_<NAME>`` (``MYNASIM_READER``, ``MYNASIM_NOW``, ...). The
  result is the last stdout line that is a JSON object with an ``outcome``; without one, exit
  status 0 means accepted and any other rejected. A signal is a crash, the timeout a hang.
  The command runs in the folder the harness was started in (relative paths in the template
  resolve there); ``{workdir}`` is the step's own folder.
- `FlowCommands`: one `CommandAdapter` per flow (a login program and a signing program).
- `PythonAdapter`: a callable ``(StepContext) -> StepOutcome | dict``, run in a thread with
  the step's timeout.
- `conformance.rp.pkcs11.Pkcs11Adapter`: a callable that gets OpenSC's PKCS#11 token.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.report import redact_text
from conformance.rp.context import (
    ACCEPTED,
    ERROR,
    MESSAGE_PLACEHOLDERS,
    PLACEHOLDER_NAMES,
    REJECTED,
    Flow,
    StepContext,
    StepOutcome,
)

PIN_VIA = ("env", "stdin", "arg")
TAIL_LINES = 12


class AdapterError(ValueError):
    """The software under test cannot be set up as given (bad template, unknown callable)."""


PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _placeholder_names(template: Sequence[str]) -> set[str]:
    """The ``{name}`` placeholders of a template (other braces, e.g. JSON, are left alone)."""
    return {name for arg in template for name in PLACEHOLDER.findall(arg)}


def fill(arg: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), arg)


def _tail(text: str, secrets: list[bytes]) -> str:
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    return redact_text("\n".join(lines), secrets)


def outcome_from_output(stdout: str, exit_code: int) -> StepOutcome:
    """The result line if there is one, else the exit status."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "outcome" in obj:
            try:
                return StepOutcome.from_json(obj)
            except ValueError as exc:
                return StepOutcome(ERROR, f"unreadable result line: {exc}")
        break
    if exit_code == 0:
        return StepOutcome(ACCEPTED, "exit status 0")
    if exit_code in (126, 127):
        return StepOutcome(ERROR, f"the command could not be run (exit status {exit_code})")
    return StepOutcome(REJECTED, f"exit status {exit_code}")


class CommandAdapter:
    def __init__(
        self,
        template: str | Sequence[str],
        *,
        pin_via: str = "env",
        name: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        argv = shlex.split(template) if isinstance(template, str) else list(template)
        if not argv:
            raise AdapterError("the command is empty")
        if pin_via not in PIN_VIA:
            raise AdapterError(f"pin_via must be one of {', '.join(PIN_VIA)}, not {pin_via!r}")
        names = _placeholder_names(argv)
        known = set(PLACEHOLDER_NAMES)
        unknown = sorted(names - known)
        if unknown:
            raise AdapterError(
                f"unknown placeholder {{{unknown[0]}}} in the command; known: "
                + ", ".join(f"{{{n}}}" for n in sorted(known))
            )
        if pin_via == "arg" and "pin" not in names:
            raise AdapterError("--pin-via arg needs {pin} in the command")
        self.argv = argv
        self.pin_via = pin_via
        self.name = name or os.path.basename(argv[0])
        self.env = env
        self.cwd = cwd or Path.cwd()  # where relative paths in the template resolve
        self.placeholders = names

    def gives_message(self, flow: Flow) -> bool:
        """Whether the template hands the software the value the card must sign in `flow`."""
        return any(name in self.placeholders for name in MESSAGE_PLACEHOLDERS[flow])

    def command_line(self, context: StepContext, *, redact: bool = True) -> list[str]:
        values = context.placeholders()
        if redact:
            values["pin"] = "****"
        return [fill(arg, values) for arg in self.argv]

    def environment(self, context: StepContext) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        for key, value in context.placeholders().items():
            if key != "pin":
                env[f"MYNASIM_{key.upper()}"] = value
        env.pop("MYNASIM_PIN", None)
        if self.pin_via == "env":
            env["MYNASIM_PIN"] = context.pin
        return env

    def run(self, context: StepContext) -> StepOutcome:
        secrets = [context.pin.encode()]
        argv = self.command_line(context, redact=False)
        stdin = context.pin + "\n" if self.pin_via == "stdin" else ""
        start = time.monotonic()
        try:
            process = subprocess.Popen(  # noqa: S603 - the vendor's command, by design
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.environment(context),
                cwd=self.cwd,
                start_new_session=True,  # a hang is killed with everything it started
            )
        except OSError as exc:
            return StepOutcome(ERROR, f"cannot run {argv[0]!r}: {exc.strerror}")
        try:
            stdout, stderr = process.communicate(stdin, timeout=context.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            outcome = StepOutcome(ERROR, f"no result within {context.timeout:g} s")
            outcome.extra["hung"] = context.timeout
        else:
            code = process.returncode
            if code < 0:
                name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
                outcome = StepOutcome(ERROR, f"killed by {name}")
                outcome.extra["crashed"] = True
            else:
                outcome = outcome_from_output(stdout, code)
            outcome.exit_code = code
        outcome.duration = time.monotonic() - start
        outcome.stdout_tail = _tail(stdout, secrets)
        outcome.stderr_tail = _tail(stderr, secrets)
        outcome.reason = redact_text(outcome.reason, secrets)
        return outcome


class FlowCommands:
    """One command per flow: the step's flow picks the template."""

    def __init__(self, commands: Mapping[Flow, CommandAdapter], name: str | None = None) -> None:
        if not commands:
            raise AdapterError("no command for any flow")
        self.commands = dict(commands)
        names = dict.fromkeys(command.name for command in self.commands.values())
        self.name = name or "+".join(names)

    def _for(self, flow: Flow) -> CommandAdapter | None:
        return self.commands.get(flow)

    def gives_message(self, flow: Flow) -> bool:
        command = self._for(flow)
        return command is not None and command.gives_message(flow)

    def command_line(self, context: StepContext, *, redact: bool = True) -> list[str]:
        command = self._for(context.flow)
        return [] if command is None else command.command_line(context, redact=redact)

    def run(self, context: StepContext) -> StepOutcome:
        command = self._for(context.flow)
        if command is None:
            return StepOutcome(ERROR, f"{self.name} does not do the {context.flow} flow")
        return command.run(context)


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


PythonCallable = Callable[[StepContext], "StepOutcome | dict[str, Any]"]


class PythonAdapter:
    def __init__(self, function: PythonCallable, name: str | None = None) -> None:
        self.function = function
        self.name: str = name or str(getattr(function, "__qualname__", "python"))

    @staticmethod
    def gives_message(flow: Flow) -> bool:
        """A callable always has the challenge and the document (context.challenge,
        context.data_file): what the card signed is always held to them."""
        return True

    def run(self, context: StepContext) -> StepOutcome:
        secrets = [context.pin.encode()]
        box: list[StepOutcome] = []
        start = time.monotonic()

        def call() -> None:
            try:
                box.append(as_outcome(self.function(context)))
            except Exception as exc:
                message = redact_text(f"{type(exc).__name__}: {exc}", secrets)
                box.append(StepOutcome(ERROR, f"raised {message}"))

        worker = threading.Thread(target=call, name=f"rp {context.scenario}", daemon=True)
        worker.start()
        worker.join(context.timeout)
        if not box:
            outcome = StepOutcome(ERROR, f"no result within {context.timeout:g} s")
            outcome.extra["hung"] = context.timeout
        else:
            outcome = box[0]
            outcome.reason = redact_text(outcome.reason, secrets)
        outcome.duration = time.monotonic() - start
        return outcome


def as_outcome(value: object) -> StepOutcome:
    if isinstance(value, StepOutcome):
        return value
    if isinstance(value, dict):
        return StepOutcome.from_json(value)
    raise TypeError(f"a relying party must return a StepOutcome or a dict, not {type(value)}")


def load_callable(spec: str) -> Callable[..., Any]:
    """``package.module:function`` (or ``…:factory()`` to call a factory without arguments)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AdapterError(f"write the callable as module:function, not {spec!r}")
    call = attr.endswith("()")
    attr = attr.removesuffix("()")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AdapterError(f"{module_name!r} has no {attr!r}")
        target = getattr(target, part)
    if call:
        target = target()
    if not callable(target):
        raise AdapterError(f"{spec!r} is not callable")
    return target  # type: ignore[no-any-return]
