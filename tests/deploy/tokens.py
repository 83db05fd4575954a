"""Google-style ID tokens minted locally: an RSA key, its self-signed certificate, a fake
certificate endpoint. Only the signing key differs from what Pub/Sub and Scheduler send."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt
from google.auth import jwt as google_jwt

from shared.oidc import CertsUnavailable, FetchedCerts

AUDIENCE = "https://yotpo-loyalty-event.example.run.app"
INVOKER = "yotpo-loyalty-invoker@merchant-project.iam.gserviceaccount.com"


@dataclass
class SigningKey:
    key_id: str
    private_pem: str
    certificate_pem: str

    @classmethod
    def generate(cls, key_id: str) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-google-signer")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        return cls(key_id, private_pem, certificate_pem)

    def mint(self, *, key_id: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "azp": "1234567890",
            "sub": "1234567890",
            "email": INVOKER,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = crypt.RSASigner.from_string(self.private_pem, key_id or self.key_id)
        return google_jwt.encode(signer, claims).decode()


@dataclass
class FakeCertsEndpoint:
    """Google's certificate endpoint, as a function: counts calls, can be made to fail."""

    keys: list[SigningKey]
    max_age: float = 3600.0
    failing: bool = False
    calls: int = field(default=0)

    def __call__(self) -> FetchedCerts:
        self.calls += 1
        if self.failing:
            raise CertsUnavailable("cannot fetch Google's certificates: ConnectionError")
        return FetchedCerts({k.key_id: k.certificate_pem for k in self.keys}, self.max_age)
