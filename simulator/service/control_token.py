"""The per-run token of the control endpoint, and where clients find it.

Every state-changing request (every POST) to `mynasim serve`'s control endpoint carries the
run's token in the `X-Mynasim-Token` header, so a web page in another browser tab (which can
send requests to 127.0.0.1 but cannot read this file) cannot drive the card. The token is
random per run and written to `$MYNASIM_RUNTIME_DIR/control-<port>.token` (mode 0600) while the
endpoint runs; `mynasim ctl` and the test helpers read it from there.

MYNASIM_RUNTIME_DIR defaults to `$XDG_RUNTIME_DIR/mynasim`, else `/tmp/mynasim-<uid>`; it is
created with mode 0700 and refused when another user owns it or others may read it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

TOKEN_HEADER = "X-Mynasim-Token"  # noqa: S105 - a header name
TOKEN_ENV = "MYNASIM_TOKEN"  # noqa: S105 - a variable name
RUNTIME_ENV = "MYNASIM_RUNTIME_DIR"


class RuntimeDirError(OSError):
    """The runtime folder cannot safely hold a token; the message says why."""


def new_token() -> str:
    """192 random bits as 48 hex digits: safe in a URL fragment, a header and a shell, and
    never starting with `-` (a urlsafe-base64 token did, 1 run in 64, and then
    `mynasim ctl --token TOKEN` took it for an option)."""
    return secrets.token_hex(24)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison (a timing side channel leaks nothing)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def runtime_dir() -> Path:
    """The folder for per-run files (not created here)."""
    configured = os.environ.get(RUNTIME_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "mynasim"
    return Path("/tmp") / f"mynasim-{os.getuid()}"  # noqa: S108 - checked: ours, 0700


def token_path(port: int) -> Path:
    return runtime_dir() / f"control-{port}.token"


def ensure_runtime_dir() -> Path:
    """The runtime folder, created 0700 if absent; RuntimeDirError when it is not ours or
    others may look into it (another user could then read the token)."""
    folder = runtime_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise RuntimeDirError(f"runtime folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeDirError(f"runtime folder {folder} is not a folder (a symlink?)")
    if info.st_uid != os.getuid():
        raise RuntimeDirError(f"runtime folder {folder} belongs to another user")
    if info.st_mode & 0o077:
        raise RuntimeDirError(
            f"runtime folder {folder} is open to other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); chmod 700 it or set {RUNTIME_ENV}"
        )
    return folder


def write_token(port: int, token: str) -> Path:
    """Write the token file (0600, atomically: a reader never sees half a token)."""
    path = ensure_runtime_dir() / f"control-{port}.token"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    os.replace(temporary, path)
    return path


def read_token(port: int) -> str | None:
    """The token of the endpoint on this port, if its file is there."""
    try:
        text = token_path(port).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def remove_token(port: int, token: str) -> None:
    """Remove the token file if it still holds this run's token."""
    if read_token(port) == token:
        token_path(port).unlink(missing_ok=True)
