#!/usr/bin/env python3
"""Make SPIFFE interop vectors with real peer libraries: JWT-SVIDs and JWKS with jwcrypto 1.6.1,
an X509-SVID (CA + leaf, PKCS#8 key) with pyca/cryptography. Deterministic where the
libraries allow (fixed times and kids); keys other than the vendored ES256 one are fresh.
pip install jwcrypto   (pulls in cryptography)"""
import base64, datetime, json
from jwcrypto import jwk, jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IAT = 1767225600          # 2026-01-01T00:00:00Z: the tests pin their clock here
EXP = IAT + 3600
TD = "example.org"
SUB = f"spiffe://{TD}/ns/prod/sa/billing"

es256 = jwk.JWK.from_json(open("sender-es256.private.jwk.json").read())
es384 = jwk.JWK.generate(kty="EC", crv="P-384", kid="es384-1")
rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1")

def token(key, alg, claims, name):
    t = jwt.JWT(header={"alg": alg, "kid": key.kid, "typ": "JWT"}, claims=claims)
    t.make_signed_token(key)
    open(name, "w").write(t.serialize())

base = {"sub": SUB, "aud": ["spiffe://example.org/ledger"], "iat": IAT, "exp": EXP}
token(es256, "ES256", base, "jwt-svid-es256.jwt")
token(es384, "ES384", base, "jwt-svid-es384.jwt")
token(rsa, "RS256", base, "jwt-svid-rs256.jwt")
token(rsa, "PS256", dict(base, aud="spiffe://example.org/ledger", nbf=IAT, iss="https://oidc.example.org", jti="j-1"), "jwt-svid-ps256-extra-claims.jwt")

# Tokens a JWT-SVID validator must refuse, made by the same library.
hs = jwk.JWK.generate(kty="oct", size=256, kid="hs-1")
token(hs, "HS256", base, "refuse-hs256.jwt")
eddsa = jwk.JWK.from_json(open("sender-eddsa.private.jwk.json").read())
token(eddsa, "EdDSA", base, "refuse-eddsa.jwt")
t = jwt.JWT(header={"alg": "ES256", "kid": es256.kid, "typ": "JWT", "jku": "https://attacker.example/keys"}, claims=base)
t.make_signed_token(es256)
open("refuse-extra-header.jwt", "w").write(t.serialize())
# The inner JWS of the JOSE nested-JWT vector: a valid ES256 JWS with the same kid, but no
# `sub` (it is a message envelope, not a JWT-SVID).
outer = jwt.JWT(jwt=open("nested-es256-p256.jwt").read().strip(),
                key=jwk.JWK.from_json(open("recipient-p256.private.jwk.json").read()),
                expected_type="JWE", algs=["ECDH-ES+A256KW", "A256GCM"])
open("refuse-jose-nested-inner.jwt", "w").write(outer.claims)

keys = [json.loads(k.export_public()) for k in (es256, es384, rsa)]
keys.append(json.loads(eddsa.export_public()))
json.dump({"keys": keys}, open("jwks.json", "w"), indent=1, sort_keys=True)

# X509-SVID: a self-signed P-256 CA and a leaf under it, as SPIRE's template makes them.
def name(o): return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)])
nb, na = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("SPIFFE")).issuer_name(name("SPIFFE"))
      .public_key(ca_key.public_key()).serial_number(1).not_valid_before(nb).not_valid_after(na)
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{TD}")]), critical=False)
      .sign(ca_key, hashes.SHA256()))
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("SPIRE")).issuer_name(ca.subject)
        .public_key(leaf_key.public_key()).serial_number(2).not_valid_before(nb).not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, True, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SUB)]), critical=False)
        .sign(ca_key, hashes.SHA256()))
der = serialization.Encoding.DER
open("x509-svid.der", "wb").write(leaf.public_bytes(der))
open("x509-svid.key.der", "wb").write(leaf_key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open("x509-bundle.der", "wb").write(ca.public_bytes(der))

# SPIFFE bundle JSON: the CA as an x509-svid JWK with x5c, the JWT keys with use jwt-svid.
ca_jwk = json.loads(jwk.JWK.from_pyca(ca_key.public_key()).export_public())
ca_jwk.pop("kid", None)
ca_jwk.update(use="x509-svid", x5c=[base64.b64encode(ca.public_bytes(der)).decode()])
bundle = {"keys": [ca_jwk] + [dict(k, use="jwt-svid") for k in keys], "spiffe_sequence": 7, "spiffe_refresh_hint": 300}
json.dump(bundle, open("spiffe-bundle.json", "w"), indent=1, sort_keys=True)
print("ok")
