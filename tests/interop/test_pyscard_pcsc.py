"""pyscard through the real pcscd and vpcd."""

from __future__ import annotations

from smartcard.System import readers

from conformance.stack import ServedCard
from simulator import load_persona

SELECT_JPKI = list(bytes.fromhex("00A4040C0AD392F000260100000001"))


def test_pyscard_lists_the_reader_and_reads_the_certificate(served: ServedCard) -> None:
    names = [str(r) for r in readers()]
    assert "Virtual PCD 00 00" in names
    reader = next(r for r in readers() if str(r) == "Virtual PCD 00 00")
    connection = reader.createConnection()
    connection.connect()
    try:
        assert bytes(connection.getATR()) == bytes.fromhex("3BE000FF8131FE4514")
        assert connection.transmit(SELECT_JPKI)[1:] == (0x90, 0x00)
        assert connection.transmit(list(bytes.fromhex("00A4020C02000A")))[1:] == (0x90, 0x00)
        head, sw1, _ = connection.transmit(list(bytes.fromhex("00B0000004")))
        assert sw1 == 0x90
        size = (head[2] << 8 | head[3]) + 4
        der = bytearray()
        while len(der) < size:
            chunk = min(256, size - len(der))
            apdu = [0x00, 0xB0, len(der) >> 8, len(der) & 0xFF, chunk & 0xFF]
            data, sw1, _ = connection.transmit(apdu)
            assert sw1 == 0x90
            der += bytes(data)
        assert bytes(der) == load_persona("default").auth.certificate
        # an extended-length READ BINARY passes pcscd and vpcd too
        data, sw1, _ = connection.transmit(list(bytes.fromhex("00B00000000000")))
        assert (sw1, bytes(data[:size])) == (0x90, bytes(der))
    finally:
        connection.disconnect()
        connection.release()


def test_the_card_answers_foreign_aids_with_6a82(served: ServedCard) -> None:
    reader = next(r for r in readers() if str(r) == "Virtual PCD 00 00")
    connection = reader.createConnection()
    connection.connect()
    try:
        piv = list(bytes.fromhex("00A404000BA00000030800001000010000"))
        assert connection.transmit(piv)[1:] == (0x6A, 0x82)
    finally:
        connection.disconnect()
        connection.release()
