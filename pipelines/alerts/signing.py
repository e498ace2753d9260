"""CAP message signatures: an enveloped XML signature (CAP 1.2 allows <Signature> as the last element
of <alert>), made with signxml from a private key read from the environment, never from a file in
the config, and checked against the signing certificate."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.exceptions import InvalidSignature

from pipelines.config import CapSigningConfig, ConfigError


def cap_signer(signing: CapSigningConfig, env: Mapping[str, str] | None = None) -> Callable[[bytes], bytes]:
    """A function that signs one CAP message (UTF-8 XML bytes in, signed bytes out) with the PEM key in the
    environment variable `signing.key_env` and the PEM certificate at `signing.certificate`."""
    env = os.environ if env is None else env
    if signing.key_env not in env:
        raise ConfigError(f"alerts.signing.key_env: environment variable {signing.key_env} not set "
                          "(it holds the PEM private key that signs the CAP messages)")
    try:
        certificate = Path(signing.certificate).read_bytes()
    except OSError as err:
        raise ConfigError(f"alerts.signing.certificate: cannot read {signing.certificate} ({err.strerror})") from err
    key = env[signing.key_env].encode()
    signer = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256")

    def sign(xml: bytes) -> bytes:
        signed = signer.sign(etree.fromstring(xml), key=key, cert=certificate.decode())
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

    return sign


def verified_cap(xml: bytes, certificate: bytes) -> etree._Element:
    """The signed <alert> of a CAP message if its signature verifies against the PEM `certificate`;
    ValueError if it does not."""
    try:
        return XMLVerifier().verify(xml, x509_cert=certificate.decode()).signed_xml
    except InvalidSignature as err:
        raise ValueError(f"the CAP message's signature does not verify: {err}") from err
