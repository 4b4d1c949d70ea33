"""Fuzzers for security testers: `mynasim fuzz card` (the card model, in-process) and
`mynasim fuzz rp` (relying-party software, through the real PC/SC stack)."""
