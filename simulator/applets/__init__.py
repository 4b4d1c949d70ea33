"""Card applications. Importing this package registers every application."""

from simulator.applets import card_info, card_surface, jpki, juki
from simulator.applets.base import Applet, MasterFile, Session, command
from simulator.applets.registry import build_applets, register

__all__ = [
    "Applet",
    "MasterFile",
    "Session",
    "build_applets",
    "card_info",
    "card_surface",
    "command",
    "jpki",
    "juki",
    "register",
]
