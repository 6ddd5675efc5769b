"""Frameworks this package instruments.

They are alternatives: an app uses one of them, so any one installed is enough
(the ``instruments-any`` extra of pyproject.toml mirrors this tuple).
"""

_instruments: tuple[str, ...] = ()
_instruments_any = ("pipecat-ai >= 0.0.90",)
