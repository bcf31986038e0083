"""Keep the values of secret variables out of everything provision prints or stores.

A template output that used a secret is replaced, in the blueprint that plans
and labels see, by a marker: `[secret:NAME:DIGEST]`. The digest lets a plan
notice that the value changed. It is a salted scrypt hash, so it does not give
the value away, and it is hidden again when a plan is printed. Only the engine
call that needs the value gets the real blueprint.

As a last guard, `Redactor` replaces any secret value that still reaches a line
of output.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable

MARKER = re.compile(r"\[secret:(?P<names>[A-Za-z][A-Za-z0-9_]*(?:,[A-Za-z][A-Za-z0-9_]*)*):(?P<digest>[0-9a-f]{16})\]")
# The placeholder that `shown` and `Redactor` print in place of a secret: (secret NAME).
PLACEHOLDER = re.compile(r"\(secret [A-Za-z][A-Za-z0-9_]*(?:,[A-Za-z][A-Za-z0-9_]*)*\)")

# Values shorter than this are not searched for in output: a secret of one or
# two characters would mask unrelated text everywhere.
MIN_REDACTED_LENGTH = 3


def marker(names: Iterable[str], value: str, project: str) -> str:
    """Return the marker that stands for `value`, a template output that used the secret variables `names`."""
    return f"[secret:{','.join(sorted(names))}:{_digest(value, project)}]"


@functools.cache
def _digest(value: str, project: str) -> str:
    # scrypt makes each guess cost memory and time; the salt keeps equal
    # values in different projects from sharing a digest.
    salt = f"provision/{project}".encode()
    return hashlib.scrypt(value.encode(), salt=salt, n=2**14, r=8, p=1, dklen=8).hex()


def has_marker(text: str) -> bool:
    return "[secret:" in text and MARKER.search(text) is not None


def shown(text: str) -> str:
    """Return `text` as a plan prints it: markers without their digests."""
    return MARKER.sub(lambda match: f"(secret {match['names']})", text)


class Redactor:
    """Replaces the values of secret variables in text."""

    def __init__(self, secrets: dict[str, str] | None = None):
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets or {})

    def add(self, secrets: dict[str, str]) -> None:
        """Add secrets by variable name; longer values are matched first, so a value inside another is not half-hidden."""
        for name, value in secrets.items():
            if len(value) >= MIN_REDACTED_LENGTH:
                for spelling in _spellings(value):
                    self._secrets[spelling] = name
        self._compile()

    def include(self, other: Redactor) -> None:
        """Also hide what `other` hides."""
        self._secrets.update(other._secrets)
        self._compile()

    def _compile(self) -> None:
        values = sorted(self._secrets, key=len, reverse=True)
        if not values:
            self._pattern = None
            return
        # Markers and placeholders already hide a secret. They are matched as a
        # whole, so a value that occurs inside one, such as "password" in
        # "(secret db_password)", cannot garble it, and redacting twice changes nothing.
        written = "|".join(re.escape(value) for value in values)
        self._pattern = re.compile(f"{written}|(?P<kept>{MARKER.pattern}|{PLACEHOLDER.pattern})")

    def __call__(self, text: str) -> str:
        return self.replace(text, lambda name, value: f"(secret {name})")

    def replace(self, text: str, replacement: Callable[[str, str], str]) -> str:
        """Replace each secret value in `text` with `replacement(variable name, value as found)`."""
        if self._pattern is None:
            return text

        def substitute(match: re.Match[str]) -> str:
            if match["kept"] is not None:
                return match.group(0)
            return replacement(self._secrets[match.group(0)], match.group(0))

        return self._pattern.sub(substitute, text)


def _spellings(value: str) -> set[str]:
    """Return `value` as written and as it appears between the quotes of repr() and JSON text.

    Error messages quote values with repr(), which doubles a backslash and
    writes a tab as \\t, so the written form alone would let such a secret through.
    """
    python = "".join(repr(character)[1:-1] for character in value)
    return {
        value,
        python,
        # repr() of text that contains both kinds of quote escapes the single ones.
        python.replace("'", "\\'"),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


class RedactingFilter(logging.Filter):
    """Applies a Redactor to every log record: the message with its arguments, and any traceback."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            # The arguments do not fit the format. Logging reports such a record
            # instead of raising into the caller, and so does this filter.
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg = self.redactor(message)
        record.args = None

        # Formatters print exc_text when it is set, so the redacted traceback replaces the original.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True
