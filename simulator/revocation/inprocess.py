"""The revocation services run inside `mynasim serve --pki`, beside the cards.

Serve's control endpoint (and the workbench page) read and set the PKI's clock and failure
modes through GET and POST /pki; relying parties reach OCSP and the CRLs at the usual
address (127.0.0.1:35980, where the persona certificates point). The service layer cannot
import this package, so the command line (the composition root) builds it and hands it to
serve as a `simulator.service.control.PkiControl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.personalization import fixtures_root
from simulator.personalization.generate import PERSONAS_DIR

from .database import RevocationDatabase
from .failures import CrlMode, OcspMode, ResponderKind
from .server import RevocationServer
from .service import RevocationService


class InProcessPki:
    """OCSP, CRLs and the control settings of the built-in test PKI on `host:port`, plus
    the certificates of the extra persona files served (`personas`)."""

    def __init__(self, host: str, port: int, personas: Sequence[Path] = ()) -> None:
        root = fixtures_root()
        extra = None
        if personas:
            extra = sorted((root / PERSONAS_DIR).glob("*.toml")) + list(personas)
        self.service = RevocationService(RevocationDatabase.from_fixtures(root, extra))
        self.server = RevocationServer(self.service, host, port)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def control_get(self) -> dict[str, Any]:
        """The state, not counted as a control request (the workbench page polls it), and
        the values each setting takes."""
        choices = {
            "ocsp": [mode.value for mode in OcspMode],
            "crl": [mode.value for mode in CrlMode],
            "responder": [kind.value for kind in ResponderKind],
        }
        return {**self.service.state(), "choices": choices}

    def control_post(self, body: dict[str, Any]) -> dict[str, Any]:
        """ControlRequestError (a ValueError) for a refused setting; nothing changes then."""
        return self.service.control_post(body)
