"""Helpers without annotations: copied byte for byte (CRLF, non-ASCII and all)."""

# Ünïcode comment; a docstring that mentions @nni.variable is not an annotation.


def clean(text: str) -> str:
    """Strip text; only strings that start with "@nni." are annotations."""
    return text.strip()
