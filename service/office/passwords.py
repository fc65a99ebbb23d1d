"""Which passwords the office refuses, and the reason it gives: too short, containing the
username, or easy to guess (common, repetitive, sequential, a keyboard row).

Guessability is zxcvbn's estimate (the `zxcvbn` package: offline, with its own lists of common
passwords, names and words): a password must reach score 3 of 4, "safely unguessable" against an
attacker holding the hashes. The reason names the pattern that made it guessable.
"""
from __future__ import annotations

from flask_babel import gettext as _
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MIN_SCORE = 3
MAX_CHECKED = 100          # zxcvbn's cost grows with length; a longer one is judged by its start
USERNAME_MIN = 3           # "li" inside a passphrase is chance, not the username


def weakness(password: str, username: str = "") -> str | None:
    """What is wrong with `password` for `username`: short, username, repeat, sequence, common,
    guessable; None if nothing is."""
    if len(password) < MIN_LENGTH:
        return "short"
    name = username.strip().lower()
    if len(name) >= USERNAME_MIN and name in password.lower():
        return "username"
    verdict = zxcvbn(password[:MAX_CHECKED], user_inputs=[name] if name else [])
    if verdict["score"] >= MIN_SCORE:
        return None
    # the pattern covering most of the password says why
    main = max(verdict["sequence"], key=lambda m: len(m["token"]), default={})
    kind = main.get("pattern")
    if kind == "repeat":
        return "repeat"
    if kind in ("sequence", "spatial"):
        return "sequence"
    if kind == "dictionary" and main.get("dictionary_name") == "passwords":
        return "common"
    return "guessable"


def problem(password: str, username: str = "") -> str | None:
    """Why `password` is refused for `username`, in the user's language; None if it is fine."""
    why = weakness(password, username)
    return None if why is None else _messages()[why]


def _messages() -> dict[str, str]:
    return {
        "short": _("Use at least 10 characters."),
        "username": _("The password must not contain the username."),
        "repeat": _("The password repeats the same characters (like 1111111111): choose one "
                    "that is harder to guess."),
        "sequence": _("The password is a sequence or a keyboard row (like 1234567890 or "
                      "qwerty): choose one that is harder to guess."),
        "common": _("This is one of the most common passwords: choose another."),
        "guessable": _("This password is too easy to guess: use several unrelated words, or a "
                       "longer one."),
    }
