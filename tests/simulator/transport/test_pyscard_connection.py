"""pyscard client code runs unchanged against the in-process card."""

from __future__ import annotations

import pytest

pytest.importorskip("smartcard", reason="pyscard (the pcsc extra) is installed by tox/.ci/run")

from smartcard.CardConnection import CardConnection
from smartcard.CardConnectionObserver import CardConnectionObserver
from smartcard.Exceptions import CardConnectionException
from smartcard.sw.ErrorCheckingChain import ErrorCheckingChain
from smartcard.sw.ISO7816_4ErrorChecker import ISO7816_4ErrorChecker
from smartcard.sw.SWExceptions import CheckingErrorException

from simulator import VirtualCard
from simulator.personalization.persona import Persona
from simulator.transport.pyscard import VirtualCardConnection

SELECT_JPKI = list(bytes.fromhex("00A4040C0AD392F000260100000001"))


class Recorder(CardConnectionObserver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.events: list[str] = []

    def update(self, observable: object, event: object) -> None:
        self.events.append(getattr(event, "type", "?"))


def test_pyscard_reads_the_authentication_certificate(default_persona: Persona) -> None:
    connection = VirtualCardConnection(VirtualCard(default_persona))
    recorder = Recorder()
    connection.addObserver(recorder)
    connection.connect()
    assert connection.getATR() == list(default_persona.atr)
    assert connection.getProtocol() == CardConnection.T1_protocol
    assert connection.transmit(SELECT_JPKI) == ([], 0x90, 0x00)
    assert connection.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]) == ([], 0x90, 0x00)
    head, sw1, sw2 = connection.transmit([0x00, 0xB0, 0x00, 0x00, 0x04])
    assert (sw1, sw2) == (0x90, 0x00)
    size = (head[2] << 8 | head[3]) + 4
    der: list[int] = []
    while len(der) < size:
        chunk = min(256, size - len(der))
        data, sw1, _ = connection.transmit(
            [0x00, 0xB0, len(der) >> 8, len(der) & 0xFF, chunk & 0xFF]
        )
        assert sw1 == 0x90
        der += data
    assert bytes(der) == default_persona.auth.certificate
    connection.disconnect()
    assert recorder.events[:2] == ["connect", "command"]
    assert "response" in recorder.events and recorder.events[-1] == "disconnect"


def test_error_checking_chain_sees_card_status_words(default_persona: Persona) -> None:
    connection = VirtualCardConnection(VirtualCard(default_persona))
    chain: list[ErrorCheckingChain] = []
    chain = [ErrorCheckingChain(chain, ISO7816_4ErrorChecker())]
    connection.setErrorCheckingChain(chain)
    connection.connect()
    with pytest.raises(CheckingErrorException):
        connection.transmit([0x00, 0xA4, 0x04, 0x0C, 0x06, 0xA0, 0x00, 0x00, 0x00, 0x01, 0x01])


def test_transmit_before_connect_is_refused(default_persona: Persona) -> None:
    connection = VirtualCardConnection(VirtualCard(default_persona))
    with pytest.raises(CardConnectionException, match="connect"):
        connection.transmit(SELECT_JPKI)
    with pytest.raises(CardConnectionException, match="T=1"):
        connection.connect(protocol=CardConnection.T0_protocol)


def test_reconnect_resets_the_security_status(default_persona: Persona) -> None:
    connection = VirtualCardConnection(VirtualCard(default_persona))
    connection.connect()
    connection.transmit(SELECT_JPKI)
    connection.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18])
    assert connection.transmit([0x00, 0x20, 0x00, 0x80, 0x04, *b"1234"])[1:] == (0x90, 0x00)
    connection.reconnect()
    assert connection.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17])[1:] == (0x6A, 0x82)
