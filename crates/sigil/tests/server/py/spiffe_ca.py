"""Sigil's SPIFFE identity engine (mount type `spiffe`) through hvac and openssl.

A trust domain is configured; its bundle is fetched without a token, in the SPIFFE bundle
format and in PEM; JWT-SVIDs are verified by jwcrypto
with the published JWKS; X509-SVIDs minted by the server and signed from an openssl CSR are checked
with `openssl x509 -text` (one URI SAN, CA:FALSE, critical key usage with Digital Signature,
both TLS EKUs) and verified with `openssl verify -purpose sslclient` and `sslserver`
against the bundle. Then a real mutual-TLS handshake (`openssl s_server` / `s_client`) with
the two SVIDs, and logins to secrets with an X509-SVID (hvac's `cert` auth) and a JWT-SVID (`jwt` auth) (OpenBao's dev
server listens on plain HTTP, so this part has no OpenBao run); the jwt auth method also
fetches the keys itself, through the trust domain's OIDC discovery document and its JWKS
URL, trusting only the CA it is given. Bad input gets 400s. Prints OK last.
"""

import atexit
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import hvac
import requests

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
WORK = tempfile.mkdtemp(prefix="spiffe-ca-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
TD = "example.org"
# Its own mount: `sigil dev` already has a trust domain at spiffe/.
MOUNT = "spiffe-test"


def section(name):
    print(f"-- {name}", flush=True)


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    with open(path(name), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path(name)


def openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr}"
    return out.stdout + out.stderr


client = hvac.Client(url=ADDR, token=ROOT, verify=CA)


def raw(method, p, token=True, **kw):
    headers = {"X-Vault-Token": ROOT} if token else {}
    return requests.request(method, f"{ADDR}/v1/{MOUNT}/{p}", headers=headers, verify=CA, **kw)


section("trust domain")
client.sys.enable_secrets_engine("spiffe", path=MOUNT)
cfg = client.write(f"{MOUNT}/config", trust_domain=TD, x509_svid_ttl="30m")["data"]
assert cfg["trust_domain_id"] == f"spiffe://{TD}" and cfg["x509_svid_ttl"] == 1800, cfg
assert client.read(f"{MOUNT}/config")["data"] == cfg

section("bundle")
doc = raw("GET", "bundle", token=False)
assert doc.status_code == 200 and doc.headers["Content-Type"] == "application/json", doc.text
bundle = doc.json()
assert bundle["spiffe_sequence"] >= 1 and bundle["spiffe_refresh_hint"] > 0, bundle
[key] = [k for k in bundle["keys"] if k["use"] == "x509-svid"]
assert len(bundle["keys"]) == 2, bundle
assert key["use"] == "x509-svid" and "kid" not in key and len(key["x5c"]) == 1, key
pem = raw("GET", "bundle/pem", token=False)
assert pem.status_code == 200 and pem.text.startswith("-----BEGIN CERTIFICATE-----"), pem.text
write("bundle.pem", pem.text)
write("bundle.der", base64.b64decode(key["x5c"][0]))
assert openssl("x509", "-inform", "DER", "-in", path("bundle.der")) == openssl("x509", "-in", path("bundle.pem"))
ca_text = openssl("x509", "-in", path("bundle.pem"), "-noout", "-text")
assert "CA:TRUE" in ca_text and f"URI:spiffe://{TD}\n" in ca_text, ca_text


def check_svid(name, spiffe_id):
    text = openssl("x509", "-in", path(name), "-noout", "-text")
    assert text.count("URI:") == 1 and f"URI:{spiffe_id}" in text, text
    assert "CA:FALSE" in text, text
    assert "X509v3 Key Usage: critical" in text and "Digital Signature" in text, text
    assert "Certificate Sign" not in text and "CRL Sign" not in text, text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text, text
    for purpose in ("sslclient", "sslserver"):
        out = openssl("verify", "-purpose", purpose, "-CAfile", path("bundle.pem"), path(name))
        assert out.strip().endswith(": OK"), out


section("x509/mint")
web_id = f"spiffe://{TD}/ns/prod/sa/web"
minted = client.write(f"{MOUNT}/x509/mint", spiffe_id=web_id, dns_names=["web.prod.svc"])["data"]
assert minted["spiffe_id"] == web_id and minted["bundle"].strip() == pem.text.strip(), minted
write("web.pem", minted["svid"])
write("web.key", minted["private_key"])
check_svid("web.pem", web_id)
assert "DNS:web.prod.svc" in openssl("x509", "-in", path("web.pem"), "-noout", "-text")
assert openssl("x509", "-in", path("web.pem"), "-noout", "-pubkey") == openssl("pkey", "-in", path("web.key"), "-pubout")
left = minted["expires_at"] - int(time.time())
assert 1700 < left <= 1800, left

section("x509/sign (the key stays with its owner)")
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("cli.key"), "-out", path("cli.csr"), "-subj", "/CN=ignored")
cli_id = f"spiffe://{TD}/ns/prod/sa/client"
signed = client.write(f"{MOUNT}/x509/sign", spiffe_id=cli_id, csr=open(path("cli.csr")).read(), ttl="10m")["data"]
assert "private_key" not in signed, signed
write("cli.pem", signed["svid"])
check_svid("cli.pem", cli_id)
assert openssl("x509", "-in", path("cli.pem"), "-noout", "-pubkey") == openssl("pkey", "-in", path("cli.key"), "-pubout")

section("mutual TLS with the two SVIDs")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen(
    ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", path("web.pem"), "-key", path("web.key"),
     "-CAfile", path("bundle.pem"), "-Verify", "1", "-verify_return_error", "-www"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
atexit.register(server.kill)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.05)
hs = subprocess.run(
    ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-cert", path("cli.pem"), "-key", path("cli.key"),
     "-CAfile", path("bundle.pem"), "-verify_return_error", "-brief"],
    input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=20,
)
assert hs.returncode == 0 and "Verification: OK" in hs.stdout + hs.stderr, hs
no_cert = subprocess.run(
    ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", path("bundle.pem"), "-brief"],
    input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=20,
)
assert "HTTP/1.0 200" not in no_cert.stdout, no_cert.stdout
server.kill()

section("JWT-SVIDs, checked with jwcrypto")
from jwcrypto import jwk as jjwk, jws as jjws, jwt as jjwt  # noqa: E402

minted_jwt = client.write(f"{MOUNT}/jwt/mint", spiffe_id=web_id, audience=["db"])["data"]
token = minted_jwt["token"]
jwks = raw("GET", "jwks", token=False)
assert jwks.status_code == 200 and jwks.headers["Content-Type"] == "application/json", jwks.text
keyset = jjwk.JWKSet.from_json(jwks.text)
checked = jjwt.JWT(jwt=token, key=keyset, check_claims={"sub": web_id, "aud": "db", "exp": None})
claims = json.loads(checked.claims)
header = json.loads(checked.header)
assert set(header) == {"alg", "kid", "typ"} and header["alg"] == "ES256" and header["typ"] == "JWT", header
assert claims["aud"] == ["db"] and claims["exp"] == minted_jwt["expires_at"], claims
# The same key, with the same kid, is the bundle's jwt-svid entry.
bundle_keys = raw("GET", "bundle", token=False).json()["keys"]
[jwt_key] = [k for k in bundle_keys if k["use"] == "jwt-svid"]
assert jwt_key["kid"] == header["kid"], (jwt_key, header)
jjwt.JWT(jwt=token, key=jjwk.JWK(**{k: v for k, v in jwt_key.items() if k != "use"}))
# A token with one byte of its payload changed does not verify.
h, p_, sig = token.split(".")
forged = ".".join([h, p_[:-2] + ("A" if p_[-2] != "A" else "B") + p_[-1], sig])
try:
    jjwt.JWT(jwt=forged, key=keyset)
    raise AssertionError("a forged token verified")
except (jjws.InvalidJWSSignature, jjwt.JWTMissingKey):  # with a key set: no key verifies it
    pass
r = raw("POST", "jwt/mint", json={"spiffe_id": web_id})
assert r.status_code == 400 and "audience must be specified" in r.text, r.text

section("registration entries")
entry = client.write(
    f"{MOUNT}/entry", spiffe_id=web_id, parent_id=f"spiffe://{TD}/sigil/agent/join_token/node1",
    selectors=["unix:uid:1000", "unix:gid:1000"], x509_svid_ttl="15m", dns_names=["web.prod.svc"],
)["data"]
eid = entry["id"]
assert entry["selectors"] == ["unix:gid:1000", "unix:uid:1000"] and entry["x509_svid_ttl"] == 900, entry
assert client.read(f"{MOUNT}/entry/{eid}")["data"] == entry
listed = client.list(f"{MOUNT}/entries")["data"]
assert listed["keys"] == [eid] and listed["key_info"][eid]["spiffe_id"] == web_id, listed
dup = raw("POST", "entry", json={"spiffe_id": web_id, "parent_id": entry["parent_id"],
                                 "selectors": ["unix:uid:1000", "unix:gid:1000"]})
assert dup.status_code == 400 and eid in dup.text, dup.text
updated = client.write(f"{MOUNT}/entry/{eid}", hint="web")["data"]
assert updated["hint"] == "web" and updated["selectors"] == entry["selectors"], updated
client.delete(f"{MOUNT}/entry/{eid}")
assert raw("GET", f"entry/{eid}").status_code == 404

section("an X509-SVID logs in to secrets (cert auth) and is held to its policy")
client.sys.enable_auth_method("cert")
client.sys.create_or_update_policy("web", 'path "secret/data/web/*" { capabilities = ["read"] }')
client.write("auth/cert/certs/web", certificate=pem.text, allowed_uri_sans=f"spiffe://{TD}/ns/*/sa/web",
             token_policies="web", token_ttl="10m")
client.secrets.kv.v2.create_or_update_secret("web/db", secret={"password": "s3cret"})
client.secrets.kv.v2.create_or_update_secret("other/db", secret={"password": "nope"})
svid = hvac.Client(url=ADDR, cert=(path("web.pem"), path("web.key")), verify=CA)
login = svid.auth.cert.login()
assert "web" in login["auth"]["policies"], login
assert login["auth"]["metadata"]["cert_name"] == "web", login
assert svid.secrets.kv.v2.read_secret_version("web/db", raise_on_deleted_version=True)["data"]["data"] == {"password": "s3cret"}
try:
    svid.secrets.kv.v2.read_secret_version("other/db", raise_on_deleted_version=True)
    raise AssertionError("the SVID's token read a secret its policy does not allow")
except hvac.exceptions.Forbidden:
    pass
# The client SVID (another SPIFFE ID) is trusted but matches no role; no certificate at all
# and a certificate from another CA are refused.
other = hvac.Client(url=ADDR, cert=(path("cli.pem"), path("cli.key")), verify=CA)
try:
    other.auth.cert.login()
    raise AssertionError("a SPIFFE ID outside the role logged in")
except hvac.exceptions.InvalidRequest as e:
    assert "no chain matching all constraints" in str(e), e
r = requests.post(f"{ADDR}/v1/auth/cert/login", json={}, verify=CA)
assert r.status_code == 400 and "no client certificate" in r.text, r.text
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-keyout", path("rogue.key"), "-out", path("rogue.pem"), "-subj", "/CN=rogue",
        "-addext", f"subjectAltName=URI:spiffe://{TD}/ns/prod/sa/web", "-addext", "extendedKeyUsage=clientAuth")
r = requests.post(f"{ADDR}/v1/auth/cert/login", json={}, verify=CA, cert=(path("rogue.pem"), path("rogue.key")))
assert r.status_code == 400 and "invalid certificate" in r.text, r.text

section("OIDC discovery for JWT-SVIDs")
issuer = f"{ADDR}/v1/{MOUNT}"
assert raw("GET", ".well-known/openid-configuration", token=False).status_code == 404
client.write(f"{MOUNT}/config", jwt_issuer=issuer)
disc = raw("GET", ".well-known/openid-configuration", token=False)
assert disc.status_code == 200 and disc.headers["Content-Type"] == "application/json", disc.text
disc = disc.json()
assert disc["issuer"] == issuer and disc["jwks_uri"] == f"{issuer}/jwks", disc
served = requests.get(disc["jwks_uri"], verify=CA)
assert served.status_code == 200 and jjwk.JWKSet.from_json(served.text).get_key(header["kid"]), served.text

section("a JWT-SVID logs in to secrets (jwt auth) and is held to its policy")
client.sys.enable_auth_method("jwt")
jwt_pem = keyset.get_key(header["kid"]).export_to_pem().decode()
client.write("auth/jwt/config", jwt_validation_pubkeys=[jwt_pem], bound_issuer=issuer)
client.write("auth/jwt/role/web", role_type="jwt", user_claim="sub", bound_audiences=["sigil"],
             bound_claims_type="glob", bound_claims={"sub": f"spiffe://{TD}/ns/*/sa/web"},
             token_policies=["web"], token_ttl="10m")
web_jwt = client.write(f"{MOUNT}/jwt/mint", spiffe_id=web_id, audience=["sigil"])["data"]["token"]
holder = hvac.Client(url=ADDR, verify=CA)
login = holder.auth.jwt.jwt_login(role="web", jwt=web_jwt)
assert "web" in login["auth"]["policies"] and login["auth"]["lease_duration"] == 600, login
holder.token = login["auth"]["client_token"]
assert holder.secrets.kv.v2.read_secret_version("web/db", raise_on_deleted_version=True)["data"]["data"] == {"password": "s3cret"}
try:
    holder.secrets.kv.v2.read_secret_version("other/db", raise_on_deleted_version=True)
    raise AssertionError("the JWT-SVID's token read a secret its policy does not allow")
except hvac.exceptions.Forbidden:
    pass
for bad_jwt, why in (
    (client.write(f"{MOUNT}/jwt/mint", spiffe_id=cli_id, audience=["sigil"])["data"]["token"], "bound claim"),
    (client.write(f"{MOUNT}/jwt/mint", spiffe_id=web_id, audience=["other"])["data"]["token"], "audience"),
    (web_jwt[:-4] + ("AAAA" if not web_jwt.endswith("AAAA") else "BBBB"), "signature"),
):
    r = requests.post(f"{ADDR}/v1/auth/jwt/login", json={"role": "web", "jwt": bad_jwt}, verify=CA)
    assert r.status_code == 400 and why in r.text, (why, r.text)

section("jwt auth fetches the keys: OIDC discovery, then a JWKS URL")
with open(os.environ["SIGIL_CACERT"]) as f:
    ca_pem = f.read()
for config in (
    {"oidc_discovery_url": issuer, "oidc_discovery_ca_pem": ca_pem},
    {"jwks_url": f"{issuer}/jwks", "jwks_ca_pem": ca_pem},
):
    client.write("auth/jwt/config", bound_issuer=issuer, **config)
    read_back = client.read("auth/jwt/config")["data"]
    assert all(read_back[k] == v for k, v in config.items()), read_back
    login = hvac.Client(url=ADDR, verify=CA).auth.jwt.jwt_login(role="web", jwt=web_jwt)
    assert "web" in login["auth"]["policies"], login
    r = requests.post(f"{ADDR}/v1/auth/jwt/login", json={"role": "web", "jwt": web_jwt[:-4] + "AAAA"}, verify=CA)
    assert r.status_code == 400, r.text
for config, needle in (
    ({"jwks_url": f"{issuer}/jwks", "jwt_validation_pubkeys": [jwt_pem]}, "exactly one of"),
    ({}, "exactly one of"),
    ({"jwks_url": f"http://127.0.0.1:1/jwks", "jwks_ca_pem": ca_pem}, "https URL"),
    ({"jwks_url": f"{issuer}/jwks", "jwks_ca_pem": "garbage"}, "CA certificates"),
):
    r = requests.post(f"{ADDR}/v1/auth/jwt/config", json=config, headers={"X-Vault-Token": ROOT}, verify=CA)
    assert r.status_code == 400 and needle in r.text, (config, r.text)
# A JWKS URL whose TLS certificate the configured CA does not vouch for: login refused.
other_ca = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                   "-keyout", path("other-ca.key"), "-out", path("other-ca.pem"), "-subj", "/CN=other")
with open(path("other-ca.pem")) as f:
    client.write("auth/jwt/config", jwks_url=f"{issuer}/jwks", jwks_ca_pem=f.read())
r = requests.post(f"{ADDR}/v1/auth/jwt/login", json={"role": "web", "jwt": web_jwt}, verify=CA)
assert r.status_code == 400 and "fetching the signing keys" in r.text, r.text

section("bad input")
for body, needle in (
    ({"spiffe_id": "spiffe://other.org/x"}, "not in the trust domain"),
    ({"spiffe_id": f"spiffe://{TD}"}, "must have a path"),
    ({"spiffe_id": f"spiffe://{TD}/a//b"}, "empty segment"),
    ({}, "spiffe_id is required"),
):
    r = raw("POST", "x509/mint", json=body)
    assert r.status_code == 400 and needle in " ".join(r.json()["errors"]), (body, r.text)
r = raw("POST", "x509/sign", json={"spiffe_id": f"spiffe://{TD}/x", "csr": "garbage"})
assert r.status_code == 400, r.text
r = raw("POST", "config", json={"trust_domain": "other.org"})
assert r.status_code == 400 and "cannot change" in r.text, r.text
assert raw("POST", "x509/mint", token=False, json={"spiffe_id": web_id}).status_code in (401, 403)

print("OK")
