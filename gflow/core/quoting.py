"""Quoting words into one shell command line (`gbatch python train.py --lr 0.1`)."""
from __future__ import annotations

_SAFE_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/,.+")


def _quote(word: str) -> str:
    if word and all(c in _SAFE_WORD for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def shell_join(words: list[str]) -> str:
    """One shell command line that runs `words` as given (each word quoted when needed)."""
    return " ".join(_quote(word) for word in words)
