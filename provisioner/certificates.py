"""Certificate authority and server certificates for the private image registry.

provision creates its own CA, issues the registry's TLS certificate from it and
checks certificates that a user supplies instead. The functions work on PEM
bytes in memory and never talk to Docker. Only the two write helpers at the end
touch files. Keys and certificates come from the `cryptography` library.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioner.errors import ProvisionError

KeyType = Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"]
KEY_TYPES: tuple[str, ...] = get_args(KeyType)
RSA_KEY_SIZES = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
RSA_PUBLIC_EXPONENT = 65537

CA_ORGANIZATION = "provision"
# Certificates start this long before `now`, so a client whose clock runs a
# little behind does not reject a certificate that was just issued.
CLOCK_SKEW = timedelta(minutes=5)
# cryptography 48 rejects a longer common name, because X.509 sets this upper bound.
MAX_COMMON_NAME_LENGTH = 64

MAX_DNS_NAME_LENGTH = 253
DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
WILDCARD_PREFIX = "*."

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CertificateProblem(ProvisionError):
    """Invalid certificate material or request. The message names the file or field and the fix."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key as PEM bytes, with the key in unencrypted PKCS#8."""

    cert_pem: bytes
    # Left out of repr so that a logged or printed KeyPair never shows the key.
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class CertificateInfo:
    """Facts read from a certificate, for display and for renewal decisions."""

    common_name: str | None
    dns_names: list[str]
    ip_addresses: list[str]
    not_before: datetime
    not_after: datetime
    serial_number: int
    sha256_fingerprint: str
    key_type: str
    is_ca: bool


# --- Issuing ------------------------------------------------------------------


def generate_ca(common_name: str, *, key_type: KeyType = "ecdsa-p256", days: int = 3650,
                now: datetime | None = None) -> KeyPair:
    """Create a self-signed CA that may sign server certificates but no further CAs (path length 0)."""
    _check_common_name(common_name, "CA common name")
    _check_days(days)
    key = _generate_key(key_type)
    start = _utc(now)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
    ])
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    certificate = builder.sign(key, hashes.SHA256())
    return _key_pair(certificate, key)


# NOTE: not_after is always now + days, even past the CA's own not_after, and
# clients reject the server certificate from the day the CA expires.
def issue_server_certificate(ca: KeyPair, hostnames: list[str], *, key_type: KeyType = "ecdsa-p256", days: int = 365,
                             now: datetime | None = None) -> KeyPair:
    """Issue a TLS server certificate from `ca` whose subject alternative names are exactly `hostnames`.

    The first hostname also becomes the subject common name. Raises
    CertificateProblem for an empty list or an invalid hostname.
    """
    names = _subject_alternative_names(hostnames)
    _check_common_name(hostnames[0], "first hostname")
    _check_days(days)
    ca_certificate, ca_key = _parse_pair(ca, "CA")
    key = _generate_key(key_type)
    start = _utc(now)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_authority_key_identifier(ca_certificate), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    certificate = builder.sign(ca_key, hashes.SHA256())
    return _key_pair(certificate, key)


def _generate_key(key_type: str) -> SigningKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type in RSA_KEY_SIZES:
        return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_SIZES[key_type])
    raise CertificateProblem(f"invalid key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def _subject_alternative_names(hostnames: list[str]) -> list[x509.GeneralName]:
    """Convert hostnames to SAN entries in the given order, dropping repeats of the same name or address."""
    if not hostnames:
        raise CertificateProblem("no hostnames given for the server certificate; "
                                 "list at least one DNS name or IP address, such as localhost")
    names: list[x509.GeneralName] = []
    seen: set[object] = set()
    for hostname in hostnames:
        if is_ip_address(hostname):
            address = ipaddress.ip_address(hostname)
            entry, key = x509.IPAddress(address), address
        elif is_dns_name(hostname):
            entry, key = x509.DNSName(hostname), hostname.lower()
        else:
            raise CertificateProblem(_invalid_hostname_message(hostname))
        if key not in seen:
            seen.add(key)
            names.append(entry)
    return names


def _authority_key_identifier(ca_certificate: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Copy the CA's subject key identifier, or derive one from its key when the CA has none."""
    try:
        identifier = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier)


def _key_pair(certificate: x509.Certificate, key: PrivateKeyTypes) -> KeyPair:
    key_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return KeyPair(cert_pem=certificate.public_bytes(serialization.Encoding.PEM), key_pem=key_pem)


def _check_common_name(common_name: str, description: str) -> None:
    if not common_name or len(common_name) > MAX_COMMON_NAME_LENGTH:
        raise CertificateProblem(f"invalid {description} {common_name!r}: a certificate common name has 1 to "
                                 f"{MAX_COMMON_NAME_LENGTH} characters; use a shorter name")


def _check_days(days: int) -> None:
    if days < 1:
        raise CertificateProblem(f"invalid certificate validity of {days} days; use a whole number of days, 1 or more")


# --- Checking supplied material -------------------------------------------------


def load_ca(cert_pem: bytes, key_pem: bytes, *, source: str) -> KeyPair:
    """Check a user-supplied CA certificate and key, and return them as PEM with the key in PKCS#8.

    Raises CertificateProblem, naming `source`, in these cases: either part is
    not PEM, or the file contains more than one certificate. The certificate is
    not a CA that may sign certificates, or it is not valid at this moment. The
    key is not an RSA or ECDSA key, or it does not belong to the certificate.
    """
    certificate = _load_single_certificate(cert_pem, source)
    key = _load_private_key(key_pem, source)
    _check_is_ca(certificate, source)
    _check_signing_key(key, source)
    _check_key_matches(certificate, key, source)
    _check_validity(certificate, _utc(None), source, "CA certificate")
    return _key_pair(certificate, key)


def check_server_certificate(pair: KeyPair, hostnames: list[str], *, source: str, ca: KeyPair | None = None,
                             now: datetime | None = None) -> None:
    """Check that a server certificate can serve TLS for every one of `hostnames` at `now`.

    Raises CertificateProblem, naming `source`, for the first problem found.
    The checks, in order: both parts are PEM, the key belongs to the
    certificate, `ca` (when given) signed it, `now` is inside its validity
    window, it has the serverAuth extended key usage, and its subject
    alternative names cover each hostname. A chain file is accepted, and only
    its first certificate is checked.
    """
    certificate = _load_first_certificate(pair.cert_pem, source)
    key = _load_private_key(pair.key_pem, source)
    _check_key_matches(certificate, key, source)
    if ca is not None:
        ca_certificate = _load_first_certificate(ca.cert_pem, "CA")
        _check_signed_by(certificate, ca_certificate, source)
    _check_validity(certificate, _utc(now), source, "certificate")
    _check_server_auth(certificate, source)
    for hostname in hostnames:
        _check_hostname_covered(certificate, hostname, source)


def _parse_pair(pair: KeyPair, source: str) -> tuple[x509.Certificate, SigningKey]:
    """Parse a CA key pair before signing with it. load_ca has already checked a pair that came from a user."""
    certificate = _load_first_certificate(pair.cert_pem, source)
    key = _load_private_key(pair.key_pem, source)
    _check_signing_key(key, source)
    _check_key_matches(certificate, key, source)
    return certificate, key


def _check_signing_key(key: PrivateKeyTypes, source: str) -> None:
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CertificateProblem(f"{source}: the CA key is neither an RSA nor an ECDSA key, and provision signs "
                                 f"certificates only with those; use an ECDSA or RSA CA key")


def _load_certificates(pem: bytes, source: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateProblem(f"{source}: not a PEM certificate; expected text that starts with "
                                 f"-----BEGIN CERTIFICATE-----") from None


def _load_first_certificate(pem: bytes, source: str) -> x509.Certificate:
    return _load_certificates(pem, source)[0]


def _load_single_certificate(pem: bytes, source: str) -> x509.Certificate:
    certificates = _load_certificates(pem, source)
    if len(certificates) > 1:
        raise CertificateProblem(f"{source}: the file contains {len(certificates)} certificates; "
                                 f"keep only the CA certificate in it")
    return certificates[0]


def _load_private_key(pem: bytes, source: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        # load_pem_private_key raises TypeError when the key needs a password.
        raise CertificateProblem(f"{source}: the private key is encrypted; supply it without a passphrase, "
                                 f"for example with: openssl pkey -in KEY -out KEY.plain") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateProblem(f"{source}: the private key is not a PEM private key; expected text that starts "
                                 f"with -----BEGIN PRIVATE KEY----- or another PEM key header") from None


def _check_is_ca(certificate: x509.Certificate, source: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateProblem(f"{source}: the certificate is not a CA certificate (basic constraints CA is "
                                 f"not true); supply the CA certificate, not a server certificate")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.key_cert_sign:
        raise CertificateProblem(f"{source}: the CA certificate's key usage does not allow keyCertSign, so it "
                                 f"cannot sign certificates; use a CA certificate with keyCertSign")


def _check_key_matches(certificate: x509.Certificate, key: PrivateKeyTypes, source: str) -> None:
    if _public_key_der(certificate.public_key()) != _public_key_der(key.public_key()):
        raise CertificateProblem(f"{source}: the private key does not belong to the certificate; "
                                 f"supply the key that was created with this certificate")


def _public_key_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_validity(certificate: x509.Certificate, now: datetime, source: str, description: str) -> None:
    if now < certificate.not_valid_before_utc:
        raise CertificateProblem(f"{source}: the {description} is not valid until {_format_time(certificate.not_valid_before_utc)}; "
                                 f"check this machine's clock or issue a new one")
    if now > certificate.not_valid_after_utc:
        raise CertificateProblem(f"{source}: the {description} expired on {_format_time(certificate.not_valid_after_utc)}; "
                                 f"replace it with a new one")


def _check_signed_by(certificate: x509.Certificate, ca_certificate: x509.Certificate, source: str) -> None:
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        # ValueError means the issuer name differs, and InvalidSignature that the CA key did not sign it.
        # TypeError means the CA key type cannot verify signatures.
        raise CertificateProblem(f"{source}: the certificate was not signed by the CA "
                                 f"{_common_name(ca_certificate) or ca_certificate.subject.rfc4514_string()!r}; "
                                 f"issue it from that CA or configure the CA that signed it") from None


def _check_server_auth(certificate: x509.Certificate, source: str) -> None:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        raise CertificateProblem(f"{source}: the certificate does not allow TLS server use (the serverAuth "
                                 f"extended key usage is missing); issue one with extendedKeyUsage serverAuth")


def _check_hostname_covered(certificate: x509.Certificate, hostname: str, source: str) -> None:
    if not is_ip_address(hostname) and not is_dns_name(hostname):
        raise CertificateProblem(_invalid_hostname_message(hostname))
    dns_names, addresses = _san_entries(certificate)
    if is_ip_address(hostname):
        covered = ipaddress.ip_address(hostname) in addresses
    else:
        covered = any(_dns_name_matches(pattern, hostname) for pattern in dns_names)
    if not covered:
        listed = ", ".join([*dns_names, *(str(address) for address in addresses)]) or "none"
        raise CertificateProblem(f"{source}: the certificate does not cover hostname {hostname!r} "
                                 f"(its subject alternative names: {listed}); issue one that lists {hostname}")


def _dns_name_matches(pattern: str, hostname: str) -> bool:
    """Match a SAN DNS name against a hostname, where a leading '*.' stands for exactly one whole label."""
    pattern = pattern.lower()
    hostname = hostname.lower()
    if pattern == hostname:
        return True
    if not pattern.startswith(WILDCARD_PREFIX) or hostname.startswith(WILDCARD_PREFIX):
        return False
    first_label, dot, rest = hostname.partition(".")
    return bool(first_label) and bool(dot) and rest == pattern[len(WILDCARD_PREFIX):]


def _invalid_hostname_message(hostname: str) -> str:
    return (f"invalid hostname {hostname!r}; use a DNS name made of letters, digits and hyphens, such as "
            f"registry.internal, or an IP address, such as 127.0.0.1")


# --- Inspecting ---------------------------------------------------------------


def describe(cert_pem: bytes) -> CertificateInfo:
    """Read the facts a user needs about the first certificate in `cert_pem`.

    Raises CertificateProblem when `cert_pem` contains no PEM certificate.
    """
    certificate = _load_first_certificate(cert_pem, "certificate")
    dns_names, addresses = _san_entries(certificate)
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        common_name=_common_name(certificate),
        dns_names=dns_names,
        ip_addresses=[str(address) for address in addresses],
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        serial_number=certificate.serial_number,
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        key_type=_key_type_of(certificate.public_key()),
        is_ca=is_ca,
    )


def needs_renewal(cert_pem: bytes, renew_before_days: int, *, now: datetime | None = None) -> bool:
    """Return True when fewer than `renew_before_days` days remain before the certificate expires."""
    certificate = _load_first_certificate(cert_pem, "certificate")
    return certificate.not_valid_after_utc - _utc(now) < timedelta(days=renew_before_days)


def _san_entries(certificate: x509.Certificate) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return names.get_values_for_type(x509.DNSName), names.get_values_for_type(x509.IPAddress)


def _common_name(certificate: x509.Certificate) -> str | None:
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def _key_type_of(public_key: PublicKeyTypes) -> str:
    """Return the KeyType string for a public key, or "other" for keys provision does not create."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    if isinstance(public_key, rsa.RSAPublicKey):
        for key_type, size in RSA_KEY_SIZES.items():
            if public_key.key_size == size:
                return key_type
    return "other"


# --- Hostnames ----------------------------------------------------------------


def is_ip_address(hostname: str) -> bool:
    """Return True for an IPv4 or IPv6 address without a zone index such as %eth0."""
    if "%" in hostname:
        return False
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def is_dns_name(hostname: str) -> bool:
    """Return True for an RFC 1123 host name, optionally with a leading '*.' wildcard label.

    Labels have 1 to 63 letters, digits or inner hyphens, and the whole name
    has at most 253 characters. The last label may not be all digits, so that
    a malformed IPv4 address such as 256.1.1.1 is not taken for a DNS name.
    """
    if len(hostname) > MAX_DNS_NAME_LENGTH:
        return False
    labels = hostname.removeprefix(WILDCARD_PREFIX).split(".")
    if not all(DNS_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


# --- Writing files --------------------------------------------------------------


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret such as a private key: file mode 0600, folder mode 0700.

    The folder is created with mode 0700, or tightened to 0700 when it exists.
    The file is written to a temporary file in that folder and moved into
    place with os.replace, so readers see the old or the new content and the
    data is never readable by other users. Raises OSError when writing fails.
    """
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    _write_atomically(path, data, 0o600)


def write_public_file(path: Path, data: bytes) -> None:
    """Write a file anyone may read, such as a certificate: file mode 0644.

    A missing folder is created with mode 0755, and an existing folder keeps
    its mode. The write is atomic as in write_private_file. Raises OSError
    when writing fails.
    """
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        # mkdir applies the umask, so set the mode explicitly.
        os.chmod(folder, 0o755)
    _write_atomically(path, data, 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # mkstemp creates the file with mode 0600, so it is private from the start.
    descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise


# --- Time ---------------------------------------------------------------------


def _utc(now: datetime | None) -> datetime:
    """Return `now` as an aware UTC datetime. None means the current time, and a naive value is taken as UTC."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _format_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
