"""mynasim's card side: a virtual Japanese Individual Number Card.

from simulator import VirtualCard
card = VirtualCard.from_persona("default")
atr = card.power_on()
response = card.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
"""

from simulator.apdu import CardError, CommandApdu, ResponseApdu, StatusWord
from simulator.card import CardNotPoweredError, VirtualCard
from simulator.personalization.persona import Persona, PersonaError, load_persona
from simulator.state import StateFileError

__version__ = "0.1.0"

__all__ = [
    "CardError",
    "CardNotPoweredError",
    "CommandApdu",
    "Persona",
    "PersonaError",
    "ResponseApdu",
    "StateFileError",
    "StatusWord",
    "VirtualCard",
    "__version__",
    "load_persona",
]
