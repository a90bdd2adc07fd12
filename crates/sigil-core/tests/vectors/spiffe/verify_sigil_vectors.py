#!/usr/bin/env python3
"""Check the Sigil-made vectors with real peers: jwcrypto validates sigil-jwt-svid-es256.jwt
with the vendored ES256 public key, and loads sigil-spiffe-bundle.json as a JWK set whose
x509-svid keys match their x5c certificates (read by pyca/cryptography)."""
import base64, json
from cryptography import x509
from jwcrypto import jwk, jws, jwt

key = jwk.JWK.from_json(open("sender-es256.public.jwk.json").read())
tok = jwt.JWT(jwt=open("sigil-jwt-svid-es256.jwt").read().strip(), key=key, algs=["ES256"],
              check_claims={"aud": "spiffe://example.org/ledger"}, expected_type="JWS")
hdr, claims = json.loads(tok.header), json.loads(tok.claims)
assert hdr == {"alg": "ES256", "kid": "svc-billing#es256-1", "typ": "JWT"}, hdr
assert claims["sub"] == "spiffe://example.org/ns/prod/sa/web", claims

doc = json.load(open("sigil-spiffe-bundle.json"))
keyset = jwk.JWKSet.from_json(json.dumps(doc))
assert len(keyset["keys"]) == len(doc["keys"]) == 5
for k in doc["keys"]:
    if k["use"] == "x509-svid":
        cert = x509.load_der_x509_certificate(base64.b64decode(k["x5c"][0]))
        assert jwk.JWK.from_pyca(cert.public_key()).thumbprint() == jwk.JWK(**{m: k[m] for m in ("kty", "crv", "x", "y")}).thumbprint()
    else:
        assert k["use"] == "jwt-svid" and k["kid"]
assert doc["spiffe_sequence"] == 7 and doc["spiffe_refresh_hint"] == 300
print("ok")
