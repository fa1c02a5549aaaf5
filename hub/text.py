"""Vietnamese text folded for accent-insensitive search ("van ban" finds "Văn bản")."""

from __future__ import annotations

import unicodedata

_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Lower case, without diacritics (đ/Đ become d: they do not decompose in Unicode),
    with runs of white space made one space."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def words(text: str) -> list[str]:
    return fold(text).split()
