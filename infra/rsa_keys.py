"""RSA for request signatures: the arithmetic the pure domain (hub.auth) is given.

``verify_rsa`` satisfies ``hub.auth.RsaVerifier`` and ``sign_rsa`` ``hub.auth.RsaSigner``.
PKCS#1 v1.5 and PSS both hash with SHA-256; PSS uses MGF1-SHA256 and a salt as long as the
digest (32 bytes), the usual profile (RFC 8017 recommendation, JOSE's PS256), fixed rather
than "auto" so that every verifier agrees on what is valid.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MIN_BITS = 2048
MAX_BITS = 16384  # verification cost grows with the modulus; nobody needs more


def check_rsa_public_key(public_key_pem: str) -> int:
    """Refuse, at registration, a key the hub would not trust; return its size in bits.

    Raises ValueError with a message meant for the person registering the app.
    """
    key = _load_public(public_key_pem)
    bits = key.key_size
    if bits < MIN_BITS:
        raise ValueError(f"RSA key of {bits} bits is too small: at least {MIN_BITS} bits are "
                         "required (generate one with `openssl genrsa 3072`)")
    if bits > MAX_BITS:
        raise ValueError(f"RSA key of {bits} bits is too large: at most {MAX_BITS} bits")
    return bits


def verify_rsa(public_key_pem: str, message: bytes, signature: bytes, pss: bool) -> bool:
    """True when ``signature`` is the key holder's signature of ``message``; never raises for
    a bad signature, so the caller turns False into its own error."""
    try:
        _load_public(public_key_pem).verify(signature, message, _padding(pss), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def sign_rsa(private_key_pem: str, message: bytes, pss: bool) -> bytes:
    """Client side: sign ``message`` with the app's private key (PEM, unencrypted)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key.sign(message, _padding(pss), hashes.SHA256())


def generate_rsa_keypair(bits: int = 2048) -> tuple[str, str]:
    """A new key pair as (private PEM in PKCS#8, public PEM in SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()
    return private_pem, public_pem


@lru_cache(maxsize=1024)
def _load_public(public_key_pem: str) -> rsa.RSAPublicKey:
    """Parsed once per key: every signed request of an app uses the same few keys."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
    except ValueError as e:
        raise ValueError(f"not a PEM public key: {e}") from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"the public key is {type(key).__name__}, not an RSA key")
    return key


def _padding(pss: bool) -> padding.AsymmetricPadding:
    if pss:
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()
