"""mynasim's host side: conformance suites, channel, targets and reports.

The suites arrive with later issues; this package talks to a card through bytes
only, never through VirtualCard internals, so it can run against a real card.
"""
