"""The registry's CA and server certificates, read back with `cryptography`, and the checks on supplied ones."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioner.certificates import (
    CertificateProblem,
    KeyPair,
    check_server_certificate,
    describe,
    generate_ca,
    is_dns_name,
    is_ip_address,
    issue_server_certificate,
    load_ca,
    needs_renewal,
    write_private_file,
    write_public_file,
)
from provisioner.errors import ProvisionError

NOW = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
HOSTNAMES = ["localhost", "127.0.0.1", "registry.internal", "::1"]
CA_SOURCE = "tls.ca.cert: ./ca.crt"
SERVER_SOURCE = "tls.cert: ./registry.crt"
# The KeyUsage flags that the hand-built CA certificates below leave off.
UNSET_KEY_USAGES = {
    "content_commitment": False,
    "key_encipherment": False,
    "data_encipherment": False,
    "key_agreement": False,
    "encipher_only": False,
    "decipher_only": False,
}


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return generate_ca("provision registry CA", now=NOW)


@pytest.fixture(scope="module")
def server(ca: KeyPair) -> KeyPair:
    return issue_server_certificate(ca, HOSTNAMES, now=NOW)


@pytest.fixture(scope="module")
def current_ca() -> KeyPair:
    """A CA valid at the real current time, for load_ca, which always checks against the clock."""
    return generate_ca("current CA")


def certificate_of(pair: KeyPair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pair.cert_pem)


def private_key_of(pair: KeyPair):
    return serialization.load_pem_private_key(pair.key_pem, password=None)


def extension(pair: KeyPair, extension_type: type) -> x509.Extension:
    return certificate_of(pair).extensions.get_extension_for_class(extension_type)


def public_key_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def build_certificate(key, issuer: KeyPair | None, extensions: list[x509.ExtensionType], *,
                      common_name: str = "built by test", signing_key=None) -> KeyPair:
    """Sign a certificate by hand, for shapes that generate_ca and issue_server_certificate never produce.

    `issuer` None makes it self-signed with `key` (or `signing_key` when given).
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name = name if issuer is None else certificate_of(issuer).subject
    if signing_key is None:
        signing_key = key if issuer is None else private_key_of(issuer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
    )
    for value in extensions:
        builder = builder.add_extension(value, critical=False)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = builder.sign(signing_key, algorithm)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return KeyPair(cert_pem=certificate.public_bytes(serialization.Encoding.PEM), key_pem=key_pem)


def problem_message(function, *args, **kwargs) -> str:
    with pytest.raises(CertificateProblem) as caught:
        function(*args, **kwargs)
    return str(caught.value)


# --- generate_ca ----------------------------------------------------------------


def test_ca_subject_and_issuer(ca: KeyPair):
    certificate = certificate_of(ca)

    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "provision registry CA"
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "provision"
    assert certificate.issuer == certificate.subject


def test_ca_basic_constraints(ca: KeyPair):
    constraints = extension(ca, x509.BasicConstraints)

    assert constraints.critical is True
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0


def test_ca_key_usage(ca: KeyPair):
    usage = extension(ca, x509.KeyUsage)

    assert usage.critical is True
    assert usage.value.key_cert_sign is True
    assert usage.value.crl_sign is True
    assert usage.value.digital_signature is True
    assert usage.value.key_encipherment is False
    assert usage.value.content_commitment is False


def test_ca_validity_window(ca: KeyPair):
    certificate = certificate_of(ca)

    assert certificate.not_valid_before_utc == datetime(2030, 1, 15, 11, 55, 0, tzinfo=UTC)
    assert certificate.not_valid_after_utc == NOW + timedelta(days=3650)


def test_ca_custom_days():
    certificate = certificate_of(generate_ca("short CA", days=30, now=NOW))

    assert certificate.not_valid_after_utc == datetime(2030, 2, 14, 12, 0, 0, tzinfo=UTC)


def test_ca_is_self_signed(ca: KeyPair):
    certificate = certificate_of(ca)

    certificate.verify_directly_issued_by(certificate)


def test_ca_subject_key_identifier(ca: KeyPair):
    identifier = extension(ca, x509.SubjectKeyIdentifier)
    expected = x509.SubjectKeyIdentifier.from_public_key(certificate_of(ca).public_key())

    assert identifier.critical is False
    assert identifier.value.digest == expected.digest


def test_ca_signature_is_sha256(ca: KeyPair):
    assert isinstance(certificate_of(ca).signature_hash_algorithm, hashes.SHA256)


def test_ca_serials_differ():
    first = certificate_of(generate_ca("first CA", now=NOW))
    second = certificate_of(generate_ca("second CA", now=NOW))

    assert first.serial_number != second.serial_number


def test_ca_rejects_long_common_name():
    name = "c" * 65

    assert problem_message(generate_ca, name) == (
        f"invalid CA common name {name!r}: a certificate common name has 1 to 64 characters; use a shorter name")


def test_ca_rejects_empty_common_name():
    assert problem_message(generate_ca, "") == (
        "invalid CA common name '': a certificate common name has 1 to 64 characters; use a shorter name")


def test_ca_rejects_zero_days():
    assert problem_message(generate_ca, "zero CA", days=0) == (
        "invalid certificate validity of 0 days; use a whole number of days, 1 or more")


def test_ca_rejects_unknown_key_type():
    assert problem_message(generate_ca, "dsa CA", key_type="dsa-1024") == (
        "invalid key type 'dsa-1024'; use one of ecdsa-p256, rsa-2048, rsa-3072, rsa-4096")


def test_problem_is_provision_error():
    assert issubclass(CertificateProblem, ProvisionError)


def test_key_pair_repr_hides_key(ca: KeyPair):
    assert "PRIVATE KEY" not in repr(ca)
    assert "BEGIN CERTIFICATE" in repr(ca)


# --- Key types ----------------------------------------------------------------


@pytest.mark.parametrize("key_type, size", [("rsa-2048", 2048), ("rsa-3072", 3072), ("rsa-4096", 4096)])
def test_rsa_key_types(ca: KeyPair, key_type: str, size: int):
    authority = generate_ca("RSA CA", key_type=key_type, now=NOW)
    server = issue_server_certificate(ca, ["localhost"], key_type=key_type, now=NOW)

    for pair in (authority, server):
        public_key = certificate_of(pair).public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert public_key.key_size == size
        assert public_key.public_numbers().e == 65537
        assert isinstance(private_key_of(pair), rsa.RSAPrivateKey)


def test_ecdsa_key_type(ca: KeyPair, server: KeyPair):
    for pair in (ca, server):
        public_key = certificate_of(pair).public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert isinstance(public_key.curve, ec.SECP256R1)
        assert isinstance(private_key_of(pair), ec.EllipticCurvePrivateKey)


def test_keys_match_certificates(ca: KeyPair, server: KeyPair):
    for pair in (ca, server):
        certificate_key = public_key_der(certificate_of(pair).public_key())
        assert public_key_der(private_key_of(pair).public_key()) == certificate_key


def test_keys_are_unencrypted_pkcs8(ca: KeyPair, server: KeyPair):
    for pair in (ca, server):
        assert pair.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
        assert pair.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----\n")


# --- issue_server_certificate -----------------------------------------------------


def test_server_subject_alternative_names(server: KeyPair):
    names = extension(server, x509.SubjectAlternativeName)

    assert names.critical is False
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost", "registry.internal"]
    assert names.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.IPv4Address("127.0.0.1"),
        ipaddress.IPv6Address("::1"),
    ]
    assert len(names.value) == 4


def test_server_subject_and_issuer(ca: KeyPair, server: KeyPair):
    certificate = certificate_of(server)

    assert certificate.subject.rfc4514_string() == "CN=localhost"
    assert certificate.issuer == certificate_of(ca).subject


def test_server_common_name_ip_first(ca: KeyPair):
    certificate = certificate_of(issue_server_certificate(ca, ["10.0.0.5", "registry.internal"], now=NOW))

    assert certificate.subject.rfc4514_string() == "CN=10.0.0.5"


def test_server_basic_constraints(server: KeyPair):
    constraints = extension(server, x509.BasicConstraints)

    assert constraints.critical is True
    assert constraints.value.ca is False
    assert constraints.value.path_length is None


def test_server_key_usage_ecdsa(server: KeyPair):
    usage = extension(server, x509.KeyUsage)

    assert usage.critical is True
    assert usage.value.digital_signature is True
    assert usage.value.key_encipherment is False
    assert usage.value.key_cert_sign is False
    assert usage.value.crl_sign is False


def test_server_key_usage_rsa(ca: KeyPair):
    pair = issue_server_certificate(ca, ["localhost"], key_type="rsa-2048", now=NOW)
    usage = extension(pair, x509.KeyUsage)

    assert usage.critical is True
    assert usage.value.digital_signature is True
    assert usage.value.key_encipherment is True
    assert usage.value.key_cert_sign is False


def test_server_extended_key_usage(server: KeyPair):
    usages = extension(server, x509.ExtendedKeyUsage)

    assert usages.critical is False
    assert list(usages.value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_server_key_identifiers(ca: KeyPair, server: KeyPair):
    authority = extension(server, x509.AuthorityKeyIdentifier)
    subject = extension(server, x509.SubjectKeyIdentifier)

    assert authority.value.key_identifier == extension(ca, x509.SubjectKeyIdentifier).value.digest
    assert subject.value.digest == x509.SubjectKeyIdentifier.from_public_key(certificate_of(server).public_key()).digest


def test_server_validity_window(server: KeyPair):
    certificate = certificate_of(server)

    assert certificate.not_valid_before_utc == datetime(2030, 1, 15, 11, 55, 0, tzinfo=UTC)
    assert certificate.not_valid_after_utc == datetime(2031, 1, 15, 12, 0, 0, tzinfo=UTC)


def test_server_custom_days(ca: KeyPair):
    certificate = certificate_of(issue_server_certificate(ca, ["localhost"], days=90, now=NOW))

    assert certificate.not_valid_after_utc == datetime(2030, 4, 15, 12, 0, 0, tzinfo=UTC)


def test_naive_now_taken_as_utc(ca: KeyPair):
    naive = datetime(2030, 1, 15, 12, 0, 0)
    certificate = certificate_of(issue_server_certificate(ca, ["localhost"], now=naive))

    assert certificate.not_valid_after_utc == datetime(2031, 1, 15, 12, 0, 0, tzinfo=UTC)


def test_server_verifies_against_ca(ca: KeyPair, server: KeyPair):
    certificate_of(server).verify_directly_issued_by(certificate_of(ca))

    assert isinstance(certificate_of(server).signature_hash_algorithm, hashes.SHA256)


def test_server_verifies_against_rsa_ca():
    rsa_ca = generate_ca("RSA CA", key_type="rsa-2048", now=NOW)
    server = issue_server_certificate(rsa_ca, ["localhost"], now=NOW)

    certificate_of(server).verify_directly_issued_by(certificate_of(rsa_ca))


def test_server_drops_repeated_hostnames(ca: KeyPair):
    pair = issue_server_certificate(ca, ["localhost", "LOCALHOST", "::1", "0:0:0:0:0:0:0:1"], now=NOW)
    names = extension(pair, x509.SubjectAlternativeName).value

    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.IPv6Address("::1")]


def test_server_wildcard_name(ca: KeyPair):
    pair = issue_server_certificate(ca, ["*.registry.internal"], now=NOW)

    assert extension(pair, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["*.registry.internal"]


def test_server_rejects_no_hostnames(ca: KeyPair):
    assert problem_message(issue_server_certificate, ca, []) == (
        "no hostnames given for the server certificate; list at least one DNS name or IP address, such as localhost")


def test_server_rejects_invalid_hostname(ca: KeyPair):
    assert problem_message(issue_server_certificate, ca, ["localhost", "bad_.example"]) == (
        "invalid hostname 'bad_.example'; use a DNS name made of letters, digits and hyphens, "
        "such as registry.internal, or an IP address, such as 127.0.0.1")


def test_server_rejects_long_first_hostname(ca: KeyPair):
    hostname = "a" * 60 + ".example"

    assert problem_message(issue_server_certificate, ca, [hostname]) == (
        f"invalid first hostname {hostname!r}: a certificate common name has 1 to 64 characters; use a shorter name")


# --- load_ca ------------------------------------------------------------------


def test_load_ca_accepts_generated(current_ca: KeyPair):
    assert load_ca(current_ca.cert_pem, current_ca.key_pem, source=CA_SOURCE) == current_ca


def test_load_ca_converts_key_to_pkcs8():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **UNSET_KEY_USAGES)
    built = build_certificate(key, None, [x509.BasicConstraints(ca=True, path_length=None), usage])
    traditional = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())

    loaded = load_ca(built.cert_pem, traditional, source=CA_SOURCE)

    assert traditional.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert loaded.key_pem == built.key_pem
    assert loaded.cert_pem == built.cert_pem


def test_load_ca_rejects_server_certificate(current_ca: KeyPair):
    server = issue_server_certificate(current_ca, ["localhost"])

    assert problem_message(load_ca, server.cert_pem, server.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the certificate is not a CA certificate (basic constraints CA is not true); "
        "supply the CA certificate, not a server certificate")


def test_load_ca_rejects_missing_key_cert_sign():
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=True, **UNSET_KEY_USAGES)
    built = build_certificate(key, None, [x509.BasicConstraints(ca=True, path_length=0), usage])

    assert problem_message(load_ca, built.cert_pem, built.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the CA certificate's key usage does not allow keyCertSign, so it cannot sign "
        "certificates; use a CA certificate with keyCertSign")


def test_load_ca_rejects_mismatched_key(current_ca: KeyPair):
    other = generate_ca("other CA")

    assert problem_message(load_ca, current_ca.cert_pem, other.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the private key does not belong to the certificate; "
        "supply the key that was created with this certificate")


def test_load_ca_rejects_garbage_certificate(current_ca: KeyPair):
    assert problem_message(load_ca, b"not a certificate\n", current_ca.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: not a PEM certificate; expected text that starts with -----BEGIN CERTIFICATE-----")


def test_load_ca_rejects_garbage_key(current_ca: KeyPair):
    assert problem_message(load_ca, current_ca.cert_pem, b"\x00\x01garbage", source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the private key is not a PEM private key; expected text that starts "
        "with -----BEGIN PRIVATE KEY----- or another PEM key header")


def test_load_ca_rejects_encrypted_key(current_ca: KeyPair):
    key = private_key_of(current_ca)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"passphrase"))

    assert problem_message(load_ca, current_ca.cert_pem, encrypted, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the private key is encrypted; supply it without a passphrase, "
        "for example with: openssl pkey -in KEY -out KEY.plain")


def test_load_ca_rejects_expired():
    expired = generate_ca("old CA", days=30, now=datetime(2020, 3, 1, 8, 30, 0, tzinfo=UTC))

    assert problem_message(load_ca, expired.cert_pem, expired.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the CA certificate expired on 2020-03-31 08:30:00 UTC; replace it with a new one")


def test_load_ca_rejects_not_yet_valid():
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    future = generate_ca("future CA", now=start)
    begins = start - timedelta(minutes=5)

    assert problem_message(load_ca, future.cert_pem, future.key_pem, source=CA_SOURCE) == (
        f"tls.ca.cert: ./ca.crt: the CA certificate is not valid until {begins:%Y-%m-%d %H:%M:%S} UTC; "
        "check this machine's clock or issue a new one")


def test_load_ca_rejects_two_certificates(current_ca: KeyPair):
    other = generate_ca("other CA")

    assert problem_message(load_ca, current_ca.cert_pem + other.cert_pem, current_ca.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the file contains 2 certificates; keep only the CA certificate in it")


def test_load_ca_rejects_ed25519_key():
    key = ed25519.Ed25519PrivateKey.generate()
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **UNSET_KEY_USAGES)
    built = build_certificate(key, None, [x509.BasicConstraints(ca=True, path_length=0), usage])

    assert problem_message(load_ca, built.cert_pem, built.key_pem, source=CA_SOURCE) == (
        "tls.ca.cert: ./ca.crt: the CA key is neither an RSA nor an ECDSA key, and provision signs certificates "
        "only with those; use an ECDSA or RSA CA key")


def test_loaded_ca_issues_certificates(current_ca: KeyPair):
    loaded = load_ca(current_ca.cert_pem, current_ca.key_pem, source=CA_SOURCE)
    server = issue_server_certificate(loaded, ["registry.internal"])

    certificate_of(server).verify_directly_issued_by(certificate_of(current_ca))


# --- check_server_certificate -------------------------------------------------------


def test_check_accepts_issued_certificate(ca: KeyPair, server: KeyPair):
    result = check_server_certificate(server, HOSTNAMES, source=SERVER_SOURCE, ca=ca, now=NOW)

    assert result is None


def test_check_accepts_equivalent_ipv6(ca: KeyPair, server: KeyPair):
    result = check_server_certificate(server, ["0:0:0:0:0:0:0:1", "LOCALHOST"], source=SERVER_SOURCE, now=NOW)

    assert result is None


def test_check_rejects_uncovered_hostname(server: KeyPair):
    message = problem_message(check_server_certificate, server, ["localhost", "registry.example"],
                              source=SERVER_SOURCE, now=NOW)

    assert message == (
        "tls.cert: ./registry.crt: the certificate does not cover hostname 'registry.example' "
        "(its subject alternative names: localhost, registry.internal, 127.0.0.1, ::1); "
        "issue one that lists registry.example")


def test_check_rejects_uncovered_ip(server: KeyPair):
    message = problem_message(check_server_certificate, server, ["10.0.0.5"], source=SERVER_SOURCE, now=NOW)

    assert message == (
        "tls.cert: ./registry.crt: the certificate does not cover hostname '10.0.0.5' "
        "(its subject alternative names: localhost, registry.internal, 127.0.0.1, ::1); issue one that lists 10.0.0.5")


def test_check_rejects_invalid_hostname(server: KeyPair):
    message = problem_message(check_server_certificate, server, ["exa mple.com"], source=SERVER_SOURCE, now=NOW)

    assert message == (
        "invalid hostname 'exa mple.com'; use a DNS name made of letters, digits and hyphens, "
        "such as registry.internal, or an IP address, such as 127.0.0.1")


def test_check_wildcard_covers_one_label(ca: KeyPair):
    pair = issue_server_certificate(ca, ["*.example.com"], now=NOW)

    assert check_server_certificate(pair, ["registry.example.com"], source=SERVER_SOURCE, now=NOW) is None
    assert check_server_certificate(pair, ["*.example.com"], source=SERVER_SOURCE, now=NOW) is None
    for hostname in ("example.com", "a.registry.example.com"):
        message = problem_message(check_server_certificate, pair, [hostname], source=SERVER_SOURCE, now=NOW)
        assert message.startswith(f"tls.cert: ./registry.crt: the certificate does not cover hostname '{hostname}' ")


def test_check_rejects_key_mismatch(ca: KeyPair, server: KeyPair):
    other = issue_server_certificate(ca, HOSTNAMES, now=NOW)
    mixed = KeyPair(cert_pem=server.cert_pem, key_pem=other.key_pem)

    assert problem_message(check_server_certificate, mixed, HOSTNAMES, source=SERVER_SOURCE, now=NOW) == (
        "tls.cert: ./registry.crt: the private key does not belong to the certificate; "
        "supply the key that was created with this certificate")


def test_check_rejects_expired(server: KeyPair):
    later = datetime(2031, 1, 15, 12, 0, 1, tzinfo=UTC)

    assert problem_message(check_server_certificate, server, HOSTNAMES, source=SERVER_SOURCE, now=later) == (
        "tls.cert: ./registry.crt: the certificate expired on 2031-01-15 12:00:00 UTC; replace it with a new one")


def test_check_accepts_last_valid_second(server: KeyPair):
    last = datetime(2031, 1, 15, 12, 0, 0, tzinfo=UTC)

    assert check_server_certificate(server, HOSTNAMES, source=SERVER_SOURCE, now=last) is None


def test_check_rejects_not_yet_valid(server: KeyPair):
    earlier = datetime(2030, 1, 15, 11, 54, 59, tzinfo=UTC)

    assert problem_message(check_server_certificate, server, HOSTNAMES, source=SERVER_SOURCE, now=earlier) == (
        "tls.cert: ./registry.crt: the certificate is not valid until 2030-01-15 11:55:00 UTC; "
        "check this machine's clock or issue a new one")


def test_check_tolerates_clock_skew(server: KeyPair):
    behind = NOW - timedelta(minutes=4)

    assert check_server_certificate(server, HOSTNAMES, source=SERVER_SOURCE, now=behind) is None


def test_check_rejects_other_ca(server: KeyPair):
    other = generate_ca("other CA", now=NOW)

    assert problem_message(check_server_certificate, server, HOSTNAMES, source=SERVER_SOURCE, ca=other, now=NOW) == (
        "tls.cert: ./registry.crt: the certificate was not signed by the CA 'other CA'; "
        "issue it from that CA or configure the CA that signed it")


def test_check_rejects_same_name_other_key(server: KeyPair):
    impostor = generate_ca("provision registry CA", now=NOW)

    assert problem_message(check_server_certificate, server, HOSTNAMES, source=SERVER_SOURCE, ca=impostor, now=NOW) == (
        "tls.cert: ./registry.crt: the certificate was not signed by the CA 'provision registry CA'; "
        "issue it from that CA or configure the CA that signed it")


def test_check_rejects_client_only_usage(current_ca: KeyPair):
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    client_only = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    built = build_certificate(key, current_ca, [names, client_only], common_name="localhost")

    assert problem_message(check_server_certificate, built, ["localhost"], source=SERVER_SOURCE, ca=current_ca) == (
        "tls.cert: ./registry.crt: the certificate does not allow TLS server use (the serverAuth extended key "
        "usage is missing); issue one with extendedKeyUsage serverAuth")


def test_check_rejects_missing_usage(current_ca: KeyPair):
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    built = build_certificate(key, current_ca, [names], common_name="localhost")

    assert problem_message(check_server_certificate, built, ["localhost"], source=SERVER_SOURCE) == (
        "tls.cert: ./registry.crt: the certificate does not allow TLS server use (the serverAuth extended key "
        "usage is missing); issue one with extendedKeyUsage serverAuth")


def test_check_uses_first_of_chain(ca: KeyPair, server: KeyPair):
    chain = KeyPair(cert_pem=server.cert_pem + ca.cert_pem, key_pem=server.key_pem)

    assert check_server_certificate(chain, HOSTNAMES, source=SERVER_SOURCE, ca=ca, now=NOW) is None


def test_check_rejects_garbage_certificate(server: KeyPair):
    garbage = KeyPair(cert_pem=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key_pem=server.key_pem)

    assert problem_message(check_server_certificate, garbage, HOSTNAMES, source=SERVER_SOURCE, now=NOW) == (
        "tls.cert: ./registry.crt: not a PEM certificate; expected text that starts with -----BEGIN CERTIFICATE-----")


# --- describe -----------------------------------------------------------------


def test_describe_server(server: KeyPair):
    info = describe(server.cert_pem)
    certificate = certificate_of(server)

    assert info.common_name == "localhost"
    assert info.dns_names == ["localhost", "registry.internal"]
    assert info.ip_addresses == ["127.0.0.1", "::1"]
    assert info.not_before == datetime(2030, 1, 15, 11, 55, 0, tzinfo=UTC)
    assert info.not_after == datetime(2031, 1, 15, 12, 0, 0, tzinfo=UTC)
    assert info.not_after.tzinfo == UTC
    assert info.serial_number == certificate.serial_number
    assert info.key_type == "ecdsa-p256"
    assert info.is_ca is False


def test_describe_fingerprint(server: KeyPair):
    digest = certificate_of(server).fingerprint(hashes.SHA256())
    fingerprint = describe(server.cert_pem).sha256_fingerprint

    assert fingerprint == ":".join(f"{byte:02X}" for byte in digest)
    assert len(fingerprint) == 95


def test_describe_ca(ca: KeyPair):
    info = describe(ca.cert_pem)

    assert info.common_name == "provision registry CA"
    assert info.dns_names == []
    assert info.ip_addresses == []
    assert info.key_type == "ecdsa-p256"
    assert info.is_ca is True


def test_describe_rsa_key_type(ca: KeyPair):
    pair = issue_server_certificate(ca, ["localhost"], key_type="rsa-3072", now=NOW)

    assert describe(pair.cert_pem).key_type == "rsa-3072"


def test_describe_other_key_type():
    key = ec.generate_private_key(ec.SECP384R1())
    built = build_certificate(key, None, [])

    assert describe(built.cert_pem).key_type == "other"
    assert describe(built.cert_pem).is_ca is False


def test_describe_rejects_garbage():
    assert problem_message(describe, b"") == (
        "certificate: not a PEM certificate; expected text that starts with -----BEGIN CERTIFICATE-----")


# --- needs_renewal ------------------------------------------------------------


def test_renewal_at_boundary(server: KeyPair):
    # The certificate expires at 2031-01-15 12:00:00, so 30 days before is 2030-12-16 12:00:00.
    boundary = datetime(2030, 12, 16, 12, 0, 0, tzinfo=UTC)

    assert needs_renewal(server.cert_pem, 30, now=boundary) is False
    assert needs_renewal(server.cert_pem, 30, now=boundary + timedelta(seconds=1)) is True
    assert needs_renewal(server.cert_pem, 30, now=boundary - timedelta(seconds=1)) is False


def test_renewal_fresh_certificate(server: KeyPair):
    assert needs_renewal(server.cert_pem, 30, now=NOW) is False


def test_renewal_expired_certificate(server: KeyPair):
    assert needs_renewal(server.cert_pem, 0, now=datetime(2031, 2, 1, tzinfo=UTC)) is True


# --- Hostname syntax ------------------------------------------------------------


@pytest.mark.parametrize("hostname", [
    "localhost",
    "registry.internal",
    "a-b.example.com",
    "*.example.com",
    "Registry.Internal",
    "1password.example",
    "x" * 63 + ".example",
    ".".join(["a" * 63] * 3 + ["b" * 61]),
])
def test_valid_dns_names(hostname: str):
    assert is_dns_name(hostname) is True


@pytest.mark.parametrize("hostname", [
    "-bad.example",
    "bad-.example",
    "bad_.example",
    "exa mple.com",
    "x" * 64 + ".example",
    ".".join(["a" * 63] * 3 + ["b" * 62]),
    "",
    "registry.internal.",
    ".registry.internal",
    "a..example",
    "*",
    "*example.com",
    "a.*.example.com",
    "**.example.com",
    "256.1.1.1",
    "127.0.0.1",
    "::1",
    "bücher.example",
    "registry.internal\n",
])
def test_invalid_dns_names(hostname: str):
    assert is_dns_name(hostname) is False


@pytest.mark.parametrize("hostname", ["127.0.0.1", "::1", "10.255.0.1", "fd00::5", "::ffff:192.0.2.1"])
def test_valid_ip_addresses(hostname: str):
    assert is_ip_address(hostname) is True


@pytest.mark.parametrize("hostname", ["256.1.1.1", "1.2.3", "01.2.3.4", "localhost", "", "fe80::1%eth0", "::1/128"])
def test_invalid_ip_addresses(hostname: str):
    assert is_ip_address(hostname) is False


# --- Writing files --------------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_file_modes(tmp_path: Path):
    path = tmp_path / "tls" / "registry.key"

    write_private_file(path, b"secret key\n")

    assert path.read_bytes() == b"secret key\n"
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700


def test_private_file_tightens_folder(tmp_path: Path):
    folder = tmp_path / "tls"
    folder.mkdir()
    os.chmod(folder, 0o755)

    write_private_file(folder / "ca.key", b"secret key\n")

    assert mode_of(folder) == 0o700
    assert mode_of(folder / "ca.key") == 0o600


def test_private_file_replaces_existing(tmp_path: Path):
    path = tmp_path / "tls" / "registry.key"
    path.parent.mkdir()
    path.write_bytes(b"old key\n")
    os.chmod(path, 0o644)

    write_private_file(path, b"new key\n")

    assert path.read_bytes() == b"new key\n"
    assert mode_of(path) == 0o600
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["registry.key"]


def test_private_file_creates_parents(tmp_path: Path):
    path = tmp_path / "state" / "project" / "tls" / "ca.key"

    write_private_file(path, b"secret key\n")

    assert path.read_bytes() == b"secret key\n"
    assert mode_of(path.parent) == 0o700


def test_private_file_ignores_umask(tmp_path: Path):
    previous = os.umask(0o000)
    try:
        write_private_file(tmp_path / "tls" / "ca.key", b"secret key\n")
    finally:
        os.umask(previous)

    assert mode_of(tmp_path / "tls" / "ca.key") == 0o600
    assert mode_of(tmp_path / "tls") == 0o700


def test_public_file_modes(tmp_path: Path):
    path = tmp_path / "tls" / "ca.crt"

    write_public_file(path, b"certificate\n")

    assert path.read_bytes() == b"certificate\n"
    assert mode_of(path) == 0o644
    assert mode_of(path.parent) == 0o755


def test_public_file_ignores_umask(tmp_path: Path):
    previous = os.umask(0o077)
    try:
        write_public_file(tmp_path / "tls" / "ca.crt", b"certificate\n")
    finally:
        os.umask(previous)

    assert mode_of(tmp_path / "tls" / "ca.crt") == 0o644
    assert mode_of(tmp_path / "tls") == 0o755


def test_public_file_keeps_folder_mode(tmp_path: Path):
    folder = tmp_path / "tls"
    folder.mkdir()
    os.chmod(folder, 0o700)

    write_public_file(folder / "ca.crt", b"certificate\n")

    assert mode_of(folder) == 0o700
    assert mode_of(folder / "ca.crt") == 0o644


def test_public_file_replaces_existing(tmp_path: Path):
    path = tmp_path / "ca.crt"
    path.write_bytes(b"old certificate\n")
    os.chmod(path, 0o600)

    write_public_file(path, b"new certificate\n")

    assert path.read_bytes() == b"new certificate\n"
    assert mode_of(path) == 0o644
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["ca.crt"]
