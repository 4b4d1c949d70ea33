"""The benchmark's baseline card: a minimal vpcd peer that answers 9000 to every APDU.

With `--sized`, a case-2 command (`CLA INS P1 P2 Le`) gets Le zero bytes before the 9000,
so that both cards move the same number of bytes through pyscard, pcscd and vpcd.
It is served through the same transport as `mynasim serve` (VpcdClient, FrameHandler),
so comparing the two measures what the real card adds to a round trip. With `--beside
PERSONA`, the same process also serves that persona in slot 0 exactly as `mynasim serve`
does (its Server class), and the echo card goes to slot 1: both cards then share one
process, so the operating system's placement of processes on cores (which moves round
trips by 15% between runs on a 2-core machine) cannot favour one of them.

    python benchmarks/echo_card.py [--port 35964] [--sized] [--beside default]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.card.atr import DEFAULT_ATR
from simulator.service.serve import ServeOptions, Server
from simulator.transport.vpcd import FrameHandler, VpcdClient


class EchoCard:
    atr = DEFAULT_ATR
    powered = True

    def __init__(self, sized: bool = False) -> None:
        self.sized = sized

    def power_on(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        pass

    def reset(self) -> bytes:
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self.sized and len(apdu) == 5:
            return bytes(apdu[4] or 256) + b"\x90\x00"
        return b"\x90\x00"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=35964)
    parser.add_argument("--sized", action="store_true", help="answer case-2 commands with Le bytes")
    parser.add_argument("--beside", metavar="PERSONA", help="also serve PERSONA in slot 0")
    args = parser.parse_args()
    client = VpcdClient(FrameHandler(EchoCard(args.sized)), args.host, args.port, name="echo card")
    server = None
    if args.beside:
        options = ServeOptions([args.beside], [], args.host, args.port - 1, control=None)
        server = Server(options)
        server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client.start()
    print(f"echo card -> vpcd {args.host}:{args.port}", flush=True)
    stop.wait()
    client.stop()
    if server is not None:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
