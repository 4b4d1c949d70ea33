"""The key set of the card-info tests (a module with a unique name, importable from tests)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class CardInfoKeys:
    issuer: rsa.RSAPrivateKey
    card: rsa.RSAPrivateKey
    other: rsa.RSAPrivateKey


def generate_keys() -> CardInfoKeys:
    def make() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return CardInfoKeys(issuer=make(), card=make(), other=make())
