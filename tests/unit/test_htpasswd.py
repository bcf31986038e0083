"""htpasswd entries: bcrypt hashes the registry accepts, kept while the password matches."""

from __future__ import annotations

import bcrypt
import pytest

from provisioner.htpasswd import BCRYPT_ROUNDS, InvalidUser, entry_matches, htpasswd_entry, htpasswd_file


def test_entry_is_bcrypt_of_password():
    entry = htpasswd_entry("admin", "s3cret-pw")
    user, _, hashed = entry.partition(":")

    assert user == "admin"
    assert hashed.startswith(f"$2b${BCRYPT_ROUNDS:02d}$")
    assert bcrypt.checkpw(b"s3cret-pw", hashed.encode())
    assert "s3cret-pw" not in entry


def test_matching_previous_entry_is_kept():
    previous = htpasswd_entry("admin", "s3cret-pw")

    assert htpasswd_entry("admin", "s3cret-pw", previous=previous) == previous


def test_changed_password_gets_new_entry():
    previous = htpasswd_entry("admin", "s3cret-pw")
    entry = htpasswd_entry("admin", "other-pw", previous=previous)

    assert entry != previous
    assert entry_matches(entry, "admin", "other-pw")
    assert not entry_matches(entry, "admin", "s3cret-pw")


def test_entry_of_other_user_never_matches():
    entry = htpasswd_entry("admin", "s3cret-pw")

    assert not entry_matches(entry, "root", "s3cret-pw")
    assert not entry_matches("admin:plain-text", "admin", "plain-text")
    assert not entry_matches("no separator", "admin", "x")


def test_file_sorted_one_entry_per_line():
    entries = ["zed:$2b$10$abc", "admin:$2b$10$def"]

    assert htpasswd_file(entries) == b"admin:$2b$10$def\nzed:$2b$10$abc\n"


@pytest.mark.parametrize("user", ["", "a:b", "with space"])
def test_invalid_user_names(user):
    with pytest.raises(InvalidUser) as raised:
        htpasswd_entry(user, "pw")

    assert str(raised.value) == f"invalid registry user name {user!r}; a name cannot be empty or contain ':' or spaces"


def test_long_password_rejected():
    with pytest.raises(InvalidUser) as raised:
        htpasswd_entry("admin", "x" * 73)

    assert "longer than 72 bytes" in str(raised.value)
    assert "x" * 73 not in str(raised.value)


def test_empty_password_rejected():
    with pytest.raises(InvalidUser) as raised:
        htpasswd_entry("admin", "")

    assert str(raised.value) == "the password of registry user 'admin' is empty; set a password"
