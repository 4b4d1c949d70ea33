"""`mynasim serve` as a real child process, for process-level tests that play vpcd themselves
(import with `from serve_process import ServeProcess`).

The test listens on a free port (the fake vpcd peers of tests/simulator/transport and
tests/simulator/service do that) and starts `python -m simulator serve --vpcd
127.0.0.1:PORT ...` from this source tree; serve connects to the test. No pcscd is involved.
The child's stdout and stderr go to files (never a pipe: a full pipe would stall it), so a
failure message can quote them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from simulator.service.control_token import TOKEN_HEADER, read_token

ROOT = Path(__file__).resolve().parents[1]
CONTROL_LINE = re.compile(r"^control: http://127\.0\.0\.1:(\d+)", re.MULTILINE)


class ServeProcess:
    """One `mynasim serve` child. `args` follow `serve` (e.g. `--vpcd 127.0.0.1:PORT`)."""

    def __init__(self, args: list[str], log_dir: Path, name: str = "serve") -> None:
        self.args = args
        self.out_path = log_dir / f"{name}.out"
        self.err_path = log_dir / f"{name}.err"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *_pythonpath()])}
        env.pop("PYTHONWARNINGS", None)
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "simulator", "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=ROOT,
                env=env,
            )
        self.pid = self.process.pid

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.alive():
            self.kill()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        """Both streams, for failure messages."""
        code = self.process.poll()
        state = "running" if code is None else f"exit code {code}"
        return (
            f"serve {' '.join(self.args)} ({state})\n--- stdout ---\n{self.stdout()}"
            f"--- stderr ---\n{self.stderr()}"
        )

    def wait_for_stdout(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        """The first match of `pattern` in stdout; AssertionError if serve ends or is slow."""
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.search(self.stdout())
            if found is not None:
                return found
            if not self.alive():
                raise AssertionError(
                    f"serve ended before printing {pattern.pattern!r}\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"serve did not print {pattern.pattern!r} in {timeout} s\n{self.output()}"
                )
            time.sleep(0.01)

    def control_port(self, timeout: float = 30.0) -> int:
        """The port of the control endpoint (start serve with `--control 127.0.0.1:0`)."""
        return int(self.wait_for_stdout(CONTROL_LINE, timeout).group(1))

    def kill(self) -> int:
        """SIGKILL and reap; the exit status (-9 unless it had already ended)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - reaped elsewhere
            pass
        return self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean shutdown) and reap; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not stop on SIGTERM\n{self.output()}") from None

    def log_lines(self, *levels: str) -> list[str]:
        """stderr lines logged at these levels (serve's format: `TIME LEVEL message`)."""
        wanted = set(levels)
        return [line for line in self.stderr().splitlines() if _level(line) in wanted]


def _level(line: str) -> str | None:
    parts = line.split(" ", 3)  # date, time, level, message
    return parts[2] if len(parts) >= 3 else None


def _pythonpath() -> list[str]:
    current = os.environ.get("PYTHONPATH", "")
    return [part for part in current.split(os.pathsep) if part]


def control_request(
    port: int,
    method: str,
    path: str,
    body: object = None,
    timeout: float = 10.0,
    *,
    token: str | None = None,
) -> tuple[int, Any]:
    """One request to a serve control endpoint: (HTTP status, the JSON answer). It carries
    the run's token: `token`, else the one serve wrote for this port (control_token), as
    `mynasim ctl` finds it; token="" sends none."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        token = read_token(port) if token is None else token
        if token:
            headers[TOKEN_HEADER] = token
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
