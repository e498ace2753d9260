"""CAP messages signed with an enveloped XML signature when a signing key is configured."""

import datetime as dt

import capvalidator
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pipelines.alerts.signing import verified_cap
from pipelines.config import CapSigningConfig, ConfigError
from tests.pipelines.test_alerts import CONFIG, cap

KEY_ENV = "WARISAN_TEST_CAP_KEY"


def _key_and_certificate() -> tuple[bytes, bytes]:
    """A fresh RSA key and its self-signed certificate, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warisan-test@example.org")])
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
                   .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def signing(tmp_path, monkeypatch):
    key, certificate = _key_and_certificate()
    monkeypatch.setenv(KEY_ENV, key.decode())
    (tmp_path / "cap.pem").write_bytes(certificate)
    return CapSigningConfig(key_env=KEY_ENV, certificate=tmp_path / "cap.pem"), certificate


def test_each_signed_message_passes_the_schema_and_its_signature_verifies(signing):
    config, certificate = signing
    signed = cap(alert=CONFIG.model_copy(update={"signing": config}))
    assert signed
    for message in signed:
        assert b"<ds:Signature" in message.xml and capvalidator.check_schema(message.xml).passed
        alert = verified_cap(message.xml, certificate)
        assert alert.findtext("{urn:oasis:names:tc:emergency:cap:1.2}identifier") == message.identifier


def test_a_changed_signed_message_does_not_verify(signing):
    config, certificate = signing
    (message, *_) = cap(alert=CONFIG.model_copy(update={"signing": config}))
    tampered = message.xml.replace(b"Test City", b"Fake City", 1)
    assert tampered != message.xml
    with pytest.raises(ValueError, match="the CAP message's signature does not verify"):
        verified_cap(tampered, certificate)


def test_unsigned_messages_carry_no_signature_and_a_missing_key_is_named(signing, monkeypatch):
    config, _ = signing
    assert all(b"Signature" not in message.xml for message in cap())
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=f"alerts.signing.key_env: environment variable {KEY_ENV} not set"):
        cap(alert=CONFIG.model_copy(update={"signing": config}))
