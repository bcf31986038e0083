"""htpasswd entries for the registry's basic authentication.

The distribution registry accepts only bcrypt entries in its htpasswd file.
bcrypt salts each hash at random. An existing entry is therefore kept while
the password still matches it, or every apply would write a new file.
"""

from __future__ import annotations

import bcrypt

from provisioner.errors import ProvisionError

# bcrypt's cost; 2^10 rounds take tens of milliseconds, and the registry checks
# the hash on every authenticated request.
BCRYPT_ROUNDS = 10


class InvalidUser(ProvisionError):
    """A user name or password that an htpasswd file cannot hold."""


def htpasswd_entry(user: str, password: str, *, previous: str | None = None) -> str:
    """Return the line `user:HASH` for the file, reusing `previous` when it still matches the password."""
    _check_user(user)
    secret = _password_bytes(user, password)
    if previous is not None and entry_matches(previous, user, password):
        return previous
    hashed = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")
    return f"{user}:{hashed}"


def entry_matches(entry: str, user: str, password: str) -> bool:
    """Return whether `entry` is an htpasswd line for `user` whose hash matches `password`."""
    name, separator, hashed = entry.partition(":")
    if not separator or name != user or not hashed.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(_password_bytes(user, password), hashed.encode("ascii"))
    except ValueError:
        return False


def htpasswd_file(entries: list[str]) -> bytes:
    """Build the file the registry reads: one entry per line, sorted by user name."""
    return "".join(f"{entry}\n" for entry in sorted(entries)).encode("ascii")


def _check_user(user: str) -> None:
    if not user or ":" in user or any(character.isspace() for character in user):
        raise InvalidUser(f"invalid registry user name {user!r}; a name cannot be empty or contain ':' or spaces")


def _password_bytes(user: str, password: str) -> bytes:
    secret = password.encode("utf-8")
    # bcrypt uses only the first 72 bytes; longer passwords would silently match shorter ones.
    if len(secret) > 72:
        raise InvalidUser(f"the password of registry user {user!r} is longer than 72 bytes, the most bcrypt uses; "
                          "choose a shorter one")
    if not secret:
        raise InvalidUser(f"the password of registry user {user!r} is empty; set a password")
    return secret
