"""Relying-party conformance: scenarios, adapters, oracles, a reference relying party and its
mutants (`mynasim rp-check`)."""
