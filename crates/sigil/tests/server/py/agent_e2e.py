"""The node agent of `sigil dev`, through unmodified SPIFFE clients.

py-spiffe 0.3.2 (SPIFFE_ENDPOINT_SOCKET from the dev env file) fetches the X509-SVID and
checks it with openssl against the X509-SVID rules; fetches the X.509 bundles (the own trust
domain and the federated one, FED_TD); fetches a JWT-SVID and checks its header and claims
with jwcrypto against the JWT bundle; validates it through the agent. Then spiffe-tls dials
two Sigil SDK servers (rustls, run by the Rust test): ALLOW_PORT authorizes this workload's
SPIFFE ID, DENY_PORT another one and must refuse the handshake. The leaf is written to
LEAF_OUT for the Rust test's x509-parser checks. Prints OK last.
"""

import base64
import json
import os
import subprocess
import tempfile

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwcrypto import jwk as jjwk
from jwcrypto import jwt as jjwt
from spiffe import WorkloadApiClient, X509Source
from spiffetls import dial

EXPECTED = os.environ["EXPECTED_ID"]
FED_TD = os.environ["FED_TD"]
TD = EXPECTED.split("/")[2]


def section(name):
    print(f"-- {name}", flush=True)


def openssl(*args, data=None):
    out = subprocess.run(["openssl", *args], input=data, capture_output=True)
    assert out.returncode == 0, f"openssl {args}: {out.stderr.decode()}"
    return out.stdout.decode()


section("X509-SVID")
client = WorkloadApiClient()
svid = client.fetch_x509_svid()
assert str(svid.spiffe_id) == EXPECTED, svid.spiffe_id
leaf_pem = svid.leaf.public_bytes(Encoding.PEM)
with open(os.environ["LEAF_OUT"], "wb") as f:
    f.write(leaf_pem)
text = openssl("x509", "-noout", "-text", data=leaf_pem)
assert text.count("URI:") == 1 and f"URI:{EXPECTED}" in text, text
assert "CA:FALSE" in text, text
assert "X509v3 Key Usage: critical" in text and "Digital Signature" in text, text
assert "Certificate Sign" not in text and "CRL Sign" not in text, text
assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text, text

section("X.509 bundles, local and federated")
bundles = client.fetch_x509_bundles()
tds = sorted(str(b.trust_domain) for b in bundles.bundles)
assert tds == sorted([TD, FED_TD]), tds
context = client.fetch_x509_context()
assert str(context.default_svid.spiffe_id) == EXPECTED
with tempfile.NamedTemporaryFile("wb", suffix=".pem") as ca:
    for b in context.x509_bundle_set.bundles:
        if str(b.trust_domain) == TD:
            for a in b.x509_authorities:
                ca.write(a.public_bytes(Encoding.PEM))
    ca.flush()
    openssl("verify", "-CAfile", ca.name, "-purpose", "sslclient", "/dev/stdin", data=leaf_pem)

section("JWT-SVID")
token = client.fetch_jwt_svid(audience={"db", "cache"})
assert str(token.spiffe_id) == EXPECTED
jwt_bundles = client.fetch_jwt_bundles()
bundle = jwt_bundles.get_bundle_for_trust_domain(token.spiffe_id.trust_domain)
header = json.loads(base64.urlsafe_b64decode(token.token.split(".")[0] + "=="))
assert set(header) == {"alg", "kid", "typ"} and header["typ"] == "JWT", header
assert header["kid"] in bundle.jwt_authorities, (header, list(bundle.jwt_authorities))
served = jjwk.JWKSet()
for kid, key in bundle.jwt_authorities.items():
    pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    k = jjwk.JWK.from_pem(pem)
    served.add(jjwk.JWK(**{**json.loads(k.export_public()), "kid": kid}))
verified = jjwt.JWT(jwt=token.token, key=served, expected_type="JWS")
claims = json.loads(verified.claims)
assert claims["sub"] == EXPECTED and sorted(claims["aud"]) == ["cache", "db"], claims
assert claims["exp"] > claims["iat"], claims
validated = client.validate_jwt_svid(token.token, "db")
assert str(validated.spiffe_id) == EXPECTED
try:
    client.validate_jwt_svid(token.token, "elsewhere")
    raise AssertionError("a JWT-SVID validated for an audience it does not name")
except Exception as e:  # noqa: BLE001 - py-spiffe wraps the gRPC error
    assert "audience" in str(e).lower() or "invalid" in str(e).lower(), e
client.close()

section("mutual TLS with a Sigil SDK server (spiffe-tls client)")
source = X509Source()
conn = dial(f"127.0.0.1:{os.environ['ALLOW_PORT']}", source)
assert conn.recv(64) == b"hello " + EXPECTED.encode(), "the server saw our SPIFFE ID"
conn.close()
try:
    conn = dial(f"127.0.0.1:{os.environ['DENY_PORT']}", source)
    conn.recv(64)
    raise AssertionError("a server authorizing another ID accepted us")
except AssertionError:
    raise
except Exception:  # noqa: BLE001 - the handshake or the first read fails
    pass
source.close()

print("OK")
