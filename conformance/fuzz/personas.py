"""Which personas a fuzz run uses: a built-in name, a persona file, or ``all``."""

from __future__ import annotations

from pathlib import Path

from conformance.fuzz.engine import PersonaRef
from simulator.personalization.persona import builtin_personas, load_persona

ALL = "all"


def resolve_personas(spec: str) -> list[PersonaRef]:
    """The personas for ``--persona`` (raises PersonaError for an unknown name or bad file).
    ``all`` cycles through every built-in persona; a file is labelled by its absolute path,
    so finding scripts name what `mynasim apdu --persona` needs from any folder."""
    if spec == ALL:
        return [PersonaRef(name, load_persona(name)) for name in builtin_personas()]
    persona = load_persona(spec)
    label = spec if spec in builtin_personas() else str(Path(spec).resolve())
    return [PersonaRef(label, persona)]
