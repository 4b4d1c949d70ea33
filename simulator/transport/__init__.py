"""Transports: leaves that put a VirtualCard behind an interface (pyscard, vpcd, ...).

Import the concrete modules directly; `simulator.transport.pyscard` needs the
`pcsc` extra (pyscard).
"""
