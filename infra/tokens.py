"""Session tokens as Ed25519-signed JWTs (alg "Ed25519", RFC 9864), through joserfc.

The signing key is derived from the master key, so every node signs and verifies alike;
its public half is published as a JWKS for destinations that verify offline.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from infra.crypto import MasterKeyWrapper


class TokenSigner:
    def __init__(self, wrapper: MasterKeyWrapper) -> None:
        private = wrapper.token_signing_key()
        raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = hashlib.sha256(raw_public).hexdigest()[:16]
        self._key = OKPKey.import_key(private, parameters={"kid": self.kid, "use": "sig"})

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "Ed25519", "kid": self.kid, "typ": "JWT"}, claims, self._key,
                          algorithms=["Ed25519"])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this hub signed, or None (bad signature, not a JWT)."""
        try:
            decoded = jwt.decode(token, self._key, algorithms=["Ed25519"])
        except (JoseError, ValueError):
            return None
        return dict(decoded.claims)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}
