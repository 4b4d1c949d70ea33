"""JPKI-SEL: selecting the JPKI application (jpki-card-reference.md sections 1, 2, 5, 15.2)."""

from __future__ import annotations

import pytest

from conformance.channel import CardChannel

JPKI_AID = "D392F000260100000001"


@pytest.mark.spec("JPKI-SEL-001", section="2")
def test_select_jpki_by_df_name(card: CardChannel) -> None:
    assert card.send(f"00A4040C0A{JPKI_AID}").sw == 0x9000


@pytest.mark.spec("JPKI-SEL-002", section="1")
def test_foreign_aid_is_not_found(card: CardChannel) -> None:
    assert card.send("00A4040C06A00000000101").sw == 0x6A82  # MUSCLE


@pytest.mark.spec("JPKI-SEL-003", section="3.1")
@pytest.mark.requires("sign_certificate")
def test_signature_certificate_ef_exists(card: CardChannel) -> None:
    card.send(f"00A4040C0A{JPKI_AID}")
    assert card.send("00A4020C020001").sw == 0x9000
