"""Vietnamese text folded for accent-insensitive search ("van ban" finds "Văn bản")."""

from __future__ import annotations

import functools
import unicodedata

_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Lower case, without diacritics (đ/Đ become d: they do not decompose in Unicode),
    with runs of white space made one space. A word at a time: agencies' names share
    most of their words (the registry folds every name, 110,000 in a directory sync), so
    each distinct word is folded once; codes and numbers are ASCII, only lowered."""
    return " ".join(w for w in map(_word, text.split()) if w)


@functools.lru_cache(maxsize=1 << 16)
def _folded(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.translate(_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def _word(word: str) -> str:
    return word.lower() if word.isascii() else _folded(word)


def words(text: str) -> list[str]:
    return fold(text).split()
