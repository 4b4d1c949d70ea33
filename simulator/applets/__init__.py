"""Card applications. Importing this package registers every application."""

from simulator.applets import jpki
from simulator.applets.base import Applet, MasterFile, Session, command
from simulator.applets.registry import build_applets, register

__all__ = ["Applet", "MasterFile", "Session", "build_applets", "command", "jpki", "register"]
