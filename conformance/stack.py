"""The real PC/SC stack for tests: pcscd (started as a child, or an existing one reused)
and `mynasim serve` as a separate process, exactly as a user runs them.

    with Pcscd.ensure(log_dir) as pcscd, ServedCard(["default"], workdir) as served:
        served.wait_present()
        ... pyscard / OpenSC tools against reader "Virtual PCD 00 00" ...
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from conformance.pcsc import PcscUnavailableError, wait_for_card
from simulator.service import ctl

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PID = Path("/run/pcscd/pcscd.pid")
VPCD_PORT = 35963
REINSERT_GAP = 2.2  # pcscd misses a card that leaves and comes back within ~0.2 s


def reader_name(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02X}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pcscd_pid() -> int | None:
    try:
        pid = int(PCSCD_PID.read_bytes().strip(b"\0\n "))
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) and PCSCD_SOCKET.exists() else None


class Pcscd:
    """A pcscd for the tests: reuse a running one, else start `pcscd -f` and stop it by PID."""

    def __init__(self, process: subprocess.Popen[bytes] | None, pid: int, log: Path | None):
        self.process = process
        self.pid = pid
        self.log = log

    @property
    def started_here(self) -> bool:
        return self.process is not None

    @classmethod
    def ensure(cls, log_dir: Path, timeout: float = 10.0) -> Pcscd:
        pid = running_pcscd_pid()
        if pid is not None:
            return cls(None, pid, None)
        binary = shutil.which("pcscd") or (
            "/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None
        )
        if binary is None:
            raise PcscUnavailableError(
                "pcscd is not installed (apt-get install pcscd vsmartcard-vpcd opensc)"
            )
        log = log_dir / "pcscd.log"
        with log.open("wb") as out:
            process = subprocess.Popen([binary, "-f"], stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not PCSCD_SOCKET.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise PcscUnavailableError(
                    f"pcscd did not start; see {log}: {log.read_text()[-500:]}"
                )
            time.sleep(0.01)
        return cls(process, process.pid, log)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return  # not ours
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Pcscd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServedCard:
    """`mynasim serve` in a child process, with its control endpoint on a free port."""

    _last_stop: float = float("-inf")

    def __init__(
        self,
        personas: list[str],
        workdir: Path,
        *,
        states: list[Path] | None = None,
        trace: Path | None = None,
    ) -> None:
        self.personas = personas
        self.states = states or []
        self.trace = trace
        self.workdir = workdir
        self.control_port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.startup_seconds: float | None = None
        self._out: IO[str] | None = None

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "serve",
            "--control",
            f"127.0.0.1:{self.control_port}",
        ]
        for persona in self.personas:
            cmd += ["--persona", persona]
        for state in self.states:
            cmd += ["--state", str(state)]
        if self.trace is not None:
            cmd += ["--trace", str(self.trace)]
        return cmd

    def start(self, timeout: float = 15.0) -> ServedCard:
        gap = ServedCard._last_stop + REINSERT_GAP - time.monotonic()
        if gap > 0:
            time.sleep(gap)  # a card that comes back too soon is missed by pcscd
        self._out = (self.workdir / "serve.log").open("a")
        start = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            self.command(), stdout=self._out, stderr=subprocess.STDOUT, text=True
        )
        for slot in range(len(self.personas)):
            self.wait_present(slot, timeout)
        self.startup_seconds = time.monotonic() - start
        return self

    def wait_present(self, slot: int = 0, timeout: float = 15.0) -> float:
        if self.process is not None and self.process.poll() is not None:
            raise PcscUnavailableError(f"mynasim serve exited early:\n{self.log_text()}")
        return wait_for_card(reader_name(slot), True, timeout)

    def wait_absent(self, slot: int = 0, timeout: float = 15.0) -> float:
        return wait_for_card(reader_name(slot), False, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        ServedCard._last_stop = time.monotonic()
        if self._out is not None:
            self._out.close()
        return code

    def log_text(self) -> str:
        path = self.workdir / "serve.log"
        return path.read_text() if path.exists() else ""

    def ctl(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the served cards' control endpoint (`mynasim ctl` uses the same call)."""
        return ctl.call(self.control_url, method, path, body)

    def __enter__(self) -> ServedCard:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PkiServer:
    """`mynasim pki serve` (OCSP responder, CRLs, clock) in a child process, by default on
    127.0.0.1:35980, where the persona certificates' AIA and CRL URLs point."""

    def __init__(self, workdir: Path, *, port: int = 35980, now: str | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.now = now
        self.process: subprocess.Popen[str] | None = None
        self._out: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> PkiServer:
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "pki",
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
        ]
        if self.now is not None:
            cmd += ["--now", self.now]
        self._out = (self.workdir / "pki-serve.log").open("a")
        self.process = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, text=True)  # noqa: S603
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.control()
                return self
            except ctl.CtlError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.workdir / "pki-serve.log").read_text()
                    raise PcscUnavailableError(f"mynasim pki serve did not start:\n{log}") from None
                time.sleep(0.05)

    def control(self, **settings: Any) -> Any:
        """GET /control, or POST the given settings (now=..., ocsp=..., crl=..., responder=...)."""
        if not settings:
            return ctl.call(self.url, "GET", "/control")
        return ctl.call(self.url, "POST", "/control", settings)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        if self._out is not None:
            self._out.close()

    def __enter__(self) -> PkiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
