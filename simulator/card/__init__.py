"""The card as a device: power, ATR, channels, application selection."""

from simulator.card.atr import DEFAULT_ATR
from simulator.card.card import CardNotPoweredError, VirtualCard

__all__ = ["DEFAULT_ATR", "CardNotPoweredError", "VirtualCard"]
