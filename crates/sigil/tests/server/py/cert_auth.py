"""Vault's `cert` auth method through hvac, with certificates made by openssl.

A CA and an X509-SVID-shaped client certificate (only the URI SAN
spiffe://example.org/ns/prod/sa/web, client-auth EKU) are made with openssl; the role
`auth/cert/certs/web` trusts the CA for `spiffe://example.org/ns/prod/*` with a policy that
reads `secret/data/web/*`. `hvac.Client(cert=...)` logs in with `auth.cert.login()`; the
token reads the secret its policy allows and is denied another; a certificate with another
SPIFFE ID, one from another CA and a login without a certificate are refused with Vault's
400s and words. Role CRUD and LIST, and bad role bodies, are checked too. Prints OK last.

Run against Sigil and against OpenBao (`bao server -dev -dev-tls`: on plain HTTP no client
certificate could reach it), with CERT_AUTH_OPENBAO=1 for the latter; the places where the
two differ are asserted both ways.
"""

import atexit
import os
import shutil
import subprocess
import tempfile

import hvac
import requests

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
WORK = tempfile.mkdtemp(prefix="cert-auth-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
MOUNT = "cert"
# The server is OpenBao (`bao server -dev -dev-tls`): it differs in two places, below.
OPENBAO = os.environ.get("CERT_AUTH_OPENBAO") == "1"
TEAM_OID = "1.3.6.1.4.1.99999.1"


def section(name):
    print(f"-- {name}", flush=True)


def path(name):
    return os.path.join(WORK, name)


def openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr}"
    return out.stdout + out.stderr


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-keyout", path(f"{name}.key"), "-out", path(f"{name}.pem"),
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_leaf(name, ca, spiffe_id, cn=None, eku="clientAuth"):
    """An X509-SVID-shaped leaf: one URI SAN, client-auth EKU, subject CN `cn` or empty."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"),
            "-subj", f"/CN={cn}" if cn else "/")
    with open(path(f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName=critical,URI:{spiffe_id}\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                f"extendedKeyUsage={eku}\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
                f"{TEAM_OID}=ASN1:UTF8String:team-payments\n")
    openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path(f"{ca}.pem"),
            "-CAkey", path(f"{ca}.key"), "-CAcreateserial", "-days", "1",
            "-extfile", path(f"{name}.ext"), "-out", path(f"{name}.pem"))
    return (path(f"{name}.pem"), path(f"{name}.key"))


def refused(fn, exc, needle):
    try:
        fn()
    except exc as e:
        assert needle in str(e), e
        return
    raise AssertionError(f"expected {exc.__name__} with {needle!r}")


client = hvac.Client(url=ADDR, token=ROOT, verify=CA)

section("certificates (openssl)")
make_ca("ca")
make_ca("rogue-ca")
# A common name too: OpenBao names the identity alias after it and fails without one.
web = make_leaf("web", "ca", "spiffe://example.org/ns/prod/sa/web", cn="web")
bare = make_leaf("bare", "ca", "spiffe://example.org/ns/prod/sa/web")
dev = make_leaf("dev", "ca", "spiffe://example.org/ns/dev/sa/web", cn="dev")
server_only = make_leaf("server", "ca", "spiffe://example.org/ns/prod/sa/web", cn="srv",
                        eku="serverAuth")
rogue = make_leaf("rogue", "rogue-ca", "spiffe://example.org/ns/prod/sa/web", cn="rogue")
with open(path("ca.pem")) as f:
    ca_pem = f.read()

section("mount, policy, secrets, role")
client.sys.enable_auth_method("cert", path=MOUNT)
assert f"{MOUNT}/" in client.sys.list_auth_methods()["data"]
client.sys.create_or_update_policy("web", 'path "secret/data/web/*" { capabilities = ["read"] }')
client.secrets.kv.v2.create_or_update_secret("web/db", secret={"password": "s3cret"})
client.secrets.kv.v2.create_or_update_secret("other/db", secret={"password": "nope"})
client.write(f"auth/{MOUNT}/certs/web", certificate=ca_pem, display_name="web",
             allowed_uri_sans="spiffe://example.org/ns/prod/*", token_policies="web",
             required_extensions=f"{TEAM_OID}:team-*", token_ttl="10m", token_max_ttl="1h")
role = client.read(f"auth/{MOUNT}/certs/web")["data"]
assert role["allowed_uri_sans"] == ["spiffe://example.org/ns/prod/*"], role
assert role["token_policies"] == ["web"] and role["token_ttl"] == 600, role
assert role["token_max_ttl"] == 3600 and role["display_name"] == "web", role
assert role["required_extensions"] == [f"{TEAM_OID}:team-*"], role
assert client.list(f"auth/{MOUNT}/certs")["data"]["keys"] == ["web"]

section("bad role bodies change nothing")
for body, needle in (
    ({}, "certificate"),
    ({"certificate": "not a pem"}, "certificate"),
    ({"certificate": ca_pem, "token_ttl": "forever"}, "invalid duration"),
    ({"certificate": ca_pem, "token_ttl": "2h", "token_max_ttl": "1h"}, "token_max_ttl"),
    ({"certificate": ca_pem, "allowed_uri_sans": {"a": 1}}, "allowed_uri_sans"),
    # OpenBao stores an entry without `oid:` (and cannot use it); Sigil refuses it.
    *([] if OPENBAO else [({"certificate": ca_pem, "required_extensions": ["no-oid"]},
                           "required_extensions")]),
):
    r = requests.post(f"{ADDR}/v1/auth/{MOUNT}/certs/bad", json=body,
                      headers={"X-Vault-Token": ROOT}, verify=CA)
    assert r.status_code == 400 and needle in r.text, (body, r.status_code, r.text)
assert client.list(f"auth/{MOUNT}/certs")["data"]["keys"] == ["web"]

section("the SVID logs in and is held to its policy")
svid = hvac.Client(url=ADDR, cert=web, verify=CA)
login = svid.auth.cert.login(mount_point=MOUNT)
auth = login["auth"]
assert "web" in auth["policies"], auth
assert auth["lease_duration"] == 600 and auth["renewable"] is True, auth
meta = auth["metadata"]
assert meta["cert_name"] == "web" and meta["common_name"] == "web", meta
assert meta["serial_number"].isdigit(), meta
assert meta["authority_key_id"] and meta["subject_key_id"], meta
assert svid.is_authenticated()
got = svid.secrets.kv.v2.read_secret_version("web/db", raise_on_deleted_version=True)
assert got["data"]["data"] == {"password": "s3cret"}, got
refused(lambda: svid.secrets.kv.v2.read_secret_version("other/db", raise_on_deleted_version=True),
        hvac.exceptions.Forbidden, "permission denied")
# An SVID with an empty subject (the SPIFFE ID alone): Sigil lets it in; OpenBao fails
# making the identity alias, which it names after the common name.
if OPENBAO:
    refused(lambda: hvac.Client(url=ADDR, cert=bare, verify=CA).auth.cert.login(mount_point=MOUNT),
            hvac.exceptions.InternalServerError, "missing name in alias")
else:
    bare_auth = hvac.Client(url=ADDR, cert=bare, verify=CA).auth.cert.login(mount_point=MOUNT)["auth"]
    assert bare_auth["metadata"]["common_name"] == "" and "web" in bare_auth["policies"], bare_auth
# Naming the role works too.
named = hvac.Client(url=ADDR, cert=web, verify=CA)
assert named.auth.cert.login(name="web", mount_point=MOUNT)["auth"]["metadata"]["cert_name"] == "web"

section("other SPIFFE IDs, other CAs and no certificate are refused")
refused(lambda: hvac.Client(url=ADDR, cert=dev, verify=CA).auth.cert.login(mount_point=MOUNT),
        hvac.exceptions.InvalidRequest, "no chain matching all constraints")
refused(lambda: hvac.Client(url=ADDR, cert=rogue, verify=CA).auth.cert.login(mount_point=MOUNT),
        hvac.exceptions.InvalidRequest, "invalid certificate or no client certificate supplied")
# A certificate for servers only: Sigil refuses it as untrusted (400); OpenBao answers
# its verification error with a 500.
if OPENBAO:
    refused(lambda: hvac.Client(url=ADDR, cert=server_only, verify=CA).auth.cert.login(mount_point=MOUNT),
            hvac.exceptions.InternalServerError, "incompatible key usage")
else:
    refused(lambda: hvac.Client(url=ADDR, cert=server_only, verify=CA).auth.cert.login(mount_point=MOUNT),
            hvac.exceptions.InvalidRequest, "invalid certificate or no client certificate supplied")
r = requests.post(f"{ADDR}/v1/auth/{MOUNT}/login", json={}, verify=CA)
assert r.status_code == 400 and "no client certificate found" in r.text, r.text
# A role requiring another value of the extension refuses the same certificate.
client.write(f"auth/{MOUNT}/certs/hr", certificate=ca_pem, required_extensions=f"{TEAM_OID}:team-hr")
refused(lambda: hvac.Client(url=ADDR, cert=web, verify=CA).auth.cert.login(name="hr", mount_point=MOUNT),
        hvac.exceptions.InvalidRequest, "no chain matching all constraints")
client.delete(f"auth/{MOUNT}/certs/hr")
# Clients without a certificate are otherwise unaffected.
assert client.is_authenticated()

section("delete")
client.delete(f"auth/{MOUNT}/certs/web")
r = requests.get(f"{ADDR}/v1/auth/{MOUNT}/certs/web", headers={"X-Vault-Token": ROOT}, verify=CA)
assert r.status_code == 404, r.text
refused(lambda: hvac.Client(url=ADDR, cert=web, verify=CA).auth.cert.login(mount_point=MOUNT),
        hvac.exceptions.InvalidRequest, "invalid certificate")

print("OK")
