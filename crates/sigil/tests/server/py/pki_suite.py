"""hvac, unmodified, and openssl against the pki secrets engine: a mount tuned for long
lifetimes, an internal EC root, a role, a certificate issued with a server-made key and one
signed from an openssl CSR, the CA and certificate reads, the certificate list, revocation and
the CRL. openssl then judges the results: both leaves verify against the CA, the CRL names the
revoked serial and not the other, and the leaves carry their SANs, serverAuth and clientAuth
and CA:FALSE. Bad input ends with exact statuses.

The same script runs against Sigil and against a real OpenBao dev server, so every check
encodes what OpenBao does. Where the two differ on purpose the check accepts both; those
places are marked "legitimate difference".

Reads SIGIL_ADDR, SIGIL_TOKEN and SIGIL_CACERT (empty: plain HTTP). Exits non-zero with the
failing check's message on the first failure; prints OK at the end."""

import atexit
import base64
import os
import re
import shutil
import subprocess
import tempfile

import hvac
import requests
from hvac import exceptions as exc

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
MOUNT = "pki"
WORK = tempfile.mkdtemp(prefix="pki-suite-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def section(name):
    print(f"-- {name}", flush=True)


def raises(kind, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as e:
        return e
    raise AssertionError(f"{fn.__name__}{args} did not raise {kind.__name__}")


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path(name), mode) as f:
        f.write(data)
    return path(name)


def openssl(*args, input=None):
    """Runs openssl; returns stdout, or fails with what it printed."""
    out = subprocess.run(["openssl", *args], input=input, capture_output=True)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr.decode()}"
    return out.stdout.decode()


def serial_int(text):
    """A serial in Vault's colon form or openssl's bare hex, as an integer."""
    return int(text.replace(":", ""), 16)


root = hvac.Client(url=ADDR, token=ROOT, verify=CA)
pki = root.secrets.pki
http = requests.Session()


def raw(method, p, token=True, **kw):
    """A request hvac would not make as is: to read a status, a raw body or without a token."""
    headers = {"X-Vault-Token": ROOT} if token else {}
    # verify per request: a session's verify loses to REQUESTS_CA_BUNDLE from the environment.
    return http.request(method, f"{ADDR}/v1/{MOUNT}/{p}", headers=headers, verify=CA, **kw)


section("mount")
root.sys.enable_secrets_engine("pki", path=MOUNT)
mounts = root.sys.list_mounted_secrets_engines()["data"]
assert mounts[f"{MOUNT}/"]["type"] == "pki", mounts[f"{MOUNT}/"]
# OpenBao caps every lifetime at the mount's max_lease_ttl (32 days by default); a ten-year
# root needs it raised, as Vault's own PKI guide does.
root.sys.tune_mount_configuration(MOUNT, max_lease_ttl="87600h")
tuned = root.sys.read_mount_configuration(MOUNT)["data"]
assert tuned["max_lease_ttl"] == 87600 * 3600, tuned

section("root")
# Before a root the raw reads answer 204 with no body (and their content type); the JSON
# read is refused.
for p, kind in (("ca", "pkix-cert"), ("ca/pem", "pem-certificate-chain"), ("crl", "pkix-crl"), ("crl/pem", "x-pem-file")):
    r = raw("GET", p, token=False)
    assert r.status_code == 204 and r.content == b"", f"{p} before a root: {r.status_code} {r.text}"
    assert r.headers["Content-Type"] == f"application/{kind}", (p, r.headers)
r = raw("GET", "cert/ca", token=False)
assert r.status_code == 400, f"cert/ca before a root: {r.status_code} {r.text}"
r = raw("POST", "issue/web", json={"common_name": "www.example.com"})
assert r.status_code == 400 and "unknown role: web" in r.text, f"issue before a role: {r.status_code} {r.text}"
gen = pki.generate_root(
    "internal",
    "Sigil Test Root",
    extra_params={"key_type": "ec", "key_bits": 256, "ttl": "87600h"},
    mount_point=MOUNT,
)["data"]
ca_pem = gen["certificate"]
assert ca_pem.startswith("-----BEGIN CERTIFICATE-----"), gen
assert gen["issuing_ca"].strip() == ca_pem.strip(), gen
assert "private_key" not in gen, "internal: the key never leaves the server"
assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})+", gen["serial_number"]), gen
root_serial = gen["serial_number"]
write("ca.pem", ca_pem)
ca_text = openssl("x509", "-in", path("ca.pem"), "-noout", "-text")
assert "CN = Sigil Test Root" in ca_text, ca_text
assert "CA:TRUE" in ca_text and "Certificate Sign" in ca_text and "CRL Sign" in ca_text, ca_text
assert "id-ecPublicKey" in ca_text and "prime256v1" in ca_text, ca_text
# A second root on the same mount adds an issuer in both; pki_issuers.py exercises that.
# Not here: the rest of this script relies on one root.

section("CA reads")
# hvac's read_ca_certificate reads ca/pem; the raw DER and JSON reads need no token.
assert pki.read_ca_certificate(mount_point=MOUNT).strip() == ca_pem.strip()
der = raw("GET", "ca", token=False)
assert der.status_code == 200, der.text
assert der.headers["Content-Type"] == "application/pkix-cert", der.headers
assert openssl("x509", "-inform", "DER", "-outform", "PEM", input=der.content).strip() == ca_pem.strip()
pem = raw("GET", "ca/pem", token=False)
assert pem.status_code == 200 and pem.text.strip() == ca_pem.strip(), pem.text
as_json = raw("GET", "cert/ca", token=False)
assert as_json.status_code == 200, as_json.text
assert as_json.json()["data"]["certificate"].strip() == ca_pem.strip(), as_json.text

section("role")
written = pki.create_or_update_role(
    "web",
    extra_params={
        "allowed_domains": ["example.com"],
        "allow_subdomains": True,
        "key_type": "ec",
        "key_bits": 256,
        "max_ttl": "72h",
    },
    mount_point=MOUNT,
)
role = pki.read_role("web", mount_point=MOUNT)["data"]
# A role write answers 200 with the role as stored (hvac gives a dict only for a body).
assert isinstance(written, dict), f"a role write answers the role: {written}"
assert written["data"] == role, (written["data"], role)
assert role["allowed_domains"] == ["example.com"] and role["allow_subdomains"] is True, role
assert role["key_type"] == "ec" and role["key_bits"] == 256, role
assert role["max_ttl"] == 72 * 3600, role
assert role["server_flag"] is True and role["client_flag"] is True, role
assert "web" in pki.list_roles(mount_point=MOUNT)["data"]["keys"]

section("issue")
issued = pki.generate_certificate(
    "web",
    "www.example.com",
    extra_params={"alt_names": "api.example.com", "ip_sans": "127.0.0.1", "ttl": "24h"},
    mount_point=MOUNT,
)
leaf = issued["data"]
# Both send an EC key as SEC1 ("EC PRIVATE KEY"), Vault's default private_key_format.
assert leaf["private_key"].startswith("-----BEGIN EC PRIVATE KEY-----"), leaf["private_key"][:40]
assert leaf["private_key_type"] == "ec", leaf
assert leaf["issuing_ca"].strip() == ca_pem.strip(), leaf
assert [c.strip() for c in leaf["ca_chain"]] == [ca_pem.strip()], leaf["ca_chain"]
issued_serial = leaf["serial_number"]
assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})+", issued_serial), leaf
write("issued.pem", leaf["certificate"])
write("issued.key", leaf["private_key"])
openssl("pkey", "-in", path("issued.key"), "-noout")
# The key returned is the certificate's key.
pub_cert = openssl("x509", "-in", path("issued.pem"), "-noout", "-pubkey")
pub_key = openssl("pkey", "-in", path("issued.key"), "-pubout")
assert pub_cert == pub_key, "the private key does not match the certificate"
# expiration is the certificate's notAfter, 24h from now (give or take the backdating).
end = openssl("x509", "-in", path("issued.pem"), "-noout", "-enddate").strip()
assert isinstance(leaf["expiration"], int), leaf
start = openssl("x509", "-in", path("issued.pem"), "-noout", "-startdate").strip()
span = leaf["expiration"] - int(
    subprocess.run(
        ["date", "-u", "-d", start.split("=", 1)[1], "+%s"], capture_output=True, text=True
    ).stdout
)
# notBefore is backdated 30 s by default.
assert 24 * 3600 <= span <= 24 * 3600 + 60, (start, end, span)

# not_before is the certificate's notBefore (backdated 30 s by default).
assert leaf["not_before"] == int(
    subprocess.run(["date", "-u", "-d", start.split("=", 1)[1], "+%s"], capture_output=True, text=True).stdout
), (leaf["not_before"], start)

section("issue formats")
der = pki.generate_certificate(
    "web", "der.example.com", extra_params={"format": "der", "ttl": "1h"}, mount_point=MOUNT
)["data"]
for field in ("certificate", "issuing_ca"):
    assert not der[field].startswith("-----"), f"{field} is not bare base64 DER: {der[field][:40]}"
write("der.der", base64.b64decode(der["certificate"]))
assert "CN = der.example.com" in openssl("x509", "-inform", "DER", "-in", path("der.der"), "-noout", "-subject")
assert base64.b64decode(der["issuing_ca"]) == base64.b64decode("".join(ca_pem.strip().splitlines()[1:-1]))
assert der["ca_chain"] == [der["issuing_ca"]], der["ca_chain"]
# The DER key is SEC1 too.
write("der.key", base64.b64decode(der["private_key"]))
openssl("pkey", "-inform", "DER", "-in", path("der.key"), "-noout")
bundle = pki.generate_certificate(
    "web", "bundle.example.com", extra_params={"format": "pem_bundle", "ttl": "1h"}, mount_point=MOUNT
)["data"]
labels = re.findall(r"-----BEGIN ([A-Z ]+)-----", bundle["certificate"])
assert labels == ["EC PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"], labels
assert bundle["certificate"].startswith(bundle["private_key"].strip()), "the bundle opens with the key"
assert bundle["certificate"].strip().endswith(ca_pem.strip()), "the bundle ends with the CA"
r = raw("POST", "issue/web", json={"common_name": "p12.example.com", "format": "p12"})
assert r.status_code == 400 and 'must be "pem", "der", or "pem_bundle"' in r.json()["errors"][0], (r.status_code, r.text)

section("issue over max_ttl")
# Legitimate difference in wording only: both cap the lifetime at the role's max_ttl and
# say so in a warning.
long = root.adapter.post(
    f"/v1/{MOUNT}/issue/web", json={"common_name": "long.example.com", "ttl": "200h"}
)
write("long.pem", long["data"]["certificate"])
start = openssl("x509", "-in", path("long.pem"), "-noout", "-startdate").strip().split("=", 1)[1]
end = openssl("x509", "-in", path("long.pem"), "-noout", "-enddate").strip().split("=", 1)[1]
secs = lambda d: int(subprocess.run(["date", "-u", "-d", d, "+%s"], capture_output=True, text=True).stdout)
assert 72 * 3600 <= secs(end) - secs(start) <= 72 * 3600 + 60, (start, end)
assert long.get("warnings"), f"capping the TTL is warned about: {long}"

section("sign a CSR")
openssl(
    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", path("csr.key"), "-out", path("req.csr"),
    "-subj", "/CN=csr.example.com",
    "-addext", "subjectAltName=DNS:csr.example.com,DNS:alt.example.com",
)
csr_pem = open(path("req.csr")).read()
signed_resp = pki.sign_certificate("web", csr_pem, "csr.example.com", mount_point=MOUNT)
signed = signed_resp["data"]
# hvac always sends common_name; the CSR's wins (use_csr_common_name) and both servers say so.
assert any('"use_csr_common_name" set to true' in w for w in signed_resp["warnings"] or []), signed_resp["warnings"]
assert "private_key" not in signed, "sign never returns a key"
assert signed["issuing_ca"].strip() == ca_pem.strip(), signed
signed_serial = signed["serial_number"]
assert signed_serial not in (issued_serial, root_serial), signed
write("signed.pem", signed["certificate"])
pub_cert = openssl("x509", "-in", path("signed.pem"), "-noout", "-pubkey")
pub_csr = openssl("pkey", "-in", path("csr.key"), "-pubout")
assert pub_cert == pub_csr, "the signed certificate does not carry the CSR's key"

section("openssl verify and x509")
for name in ("issued.pem", "signed.pem", "long.pem"):
    out = openssl("verify", "-CAfile", path("ca.pem"), path(name))
    assert out.strip().endswith(": OK"), out
# The leaves are for servers and clients, not CAs.
for name, sans in (
    ("issued.pem", ["DNS:www.example.com", "DNS:api.example.com", "IP Address:127.0.0.1"]),
    ("signed.pem", ["DNS:csr.example.com", "DNS:alt.example.com"]),
):
    text = openssl("x509", "-in", path(name), "-noout", "-text")
    for san in sans:
        assert san in text, f"{name}: {san} missing:\n{text}"
    assert "TLS Web Server Authentication" in text, f"{name}: no serverAuth:\n{text}"
    assert "TLS Web Client Authentication" in text, f"{name}: no clientAuth:\n{text}"
    # Legitimate difference: OpenBao leaves out basicConstraints on a leaf (the role's
    # basic_constraints_valid_for_non_ca is false by default), which RFC 5280 reads as not a
    # CA; where the extension is present it must say CA:FALSE.
    assert "CA:TRUE" not in text, f"{name}: a leaf is a CA:\n{text}"
    if "Basic Constraints" in text:
        assert "CA:FALSE" in text, f"{name}: not CA:FALSE:\n{text}"
    assert "Issuer: CN = Sigil Test Root" in text, text
    assert "Digital Signature" in text, text
issued_text = openssl("x509", "-in", path("issued.pem"), "-noout", "-subject")
assert "CN = www.example.com" in issued_text, issued_text
signed_text = openssl("x509", "-in", path("signed.pem"), "-noout", "-subject", "-serial")
assert "CN = csr.example.com" in signed_text, signed_text
assert serial_int(signed_text.split("serial=")[1].strip()) == serial_int(signed_serial), signed_text

section("certificate reads and list")
got = pki.read_certificate(issued_serial, mount_point=MOUNT)["data"]
assert got["certificate"].strip() == leaf["certificate"].strip(), got
assert got["revocation_time"] == 0 and got["revocation_time_rfc3339"] == "", got
# Upper-case hex is the same serial; bare hex and what is no serial at all are 404s.
upper = raw("GET", f"cert/{issued_serial.upper()}", token=False)
assert upper.status_code == 200, (upper.status_code, upper.text)
for p in (f"cert/{issued_serial.replace(':', '')}", "cert/zz"):
    r = raw("GET", p, token=False)
    assert r.status_code == 404, (p, r.status_code, r.text)
# cert/<serial> needs no token; the dashed form of the serial is accepted too.
anon = raw("GET", f"cert/{signed_serial.replace(':', '-')}", token=False)
assert anon.status_code == 200, anon.text
assert anon.json()["data"]["certificate"].strip() == signed["certificate"].strip(), anon.text
listed = pki.list_certificates(mount_point=MOUNT)["data"]["keys"]
for s in (root_serial, issued_serial, signed_serial):
    assert s in listed, f"{s} not listed: {listed}"
missing = raw("GET", "cert/01:02:03:04")
assert missing.status_code == 404, (missing.status_code, missing.text)

section("revoke and CRL")
rev = pki.revoke_certificate(issued_serial, mount_point=MOUNT)["data"]
assert rev["revocation_time"] > 0, rev
assert rev["revocation_time_rfc3339"], rev
assert rev.get("state", "revoked") == "revoked", rev
after = pki.read_certificate(issued_serial, mount_point=MOUNT)["data"]
assert after["revocation_time"] == rev["revocation_time"], after
assert after["revocation_time_rfc3339"] == rev["revocation_time_rfc3339"], after
# Revoking again changes nothing.
again = pki.revoke_certificate(issued_serial, mount_point=MOUNT)["data"]
assert again["revocation_time"] == rev["revocation_time"], again
crl_der = raw("GET", "crl", token=False)
assert crl_der.status_code == 200, crl_der.text
assert crl_der.headers["Content-Type"] == "application/pkix-crl", crl_der.headers
write("crl.der", crl_der.content)
crl_text = openssl("crl", "-inform", "DER", "-in", path("crl.der"), "-noout", "-text")
revoked = {serial_int(s) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", crl_text)}
assert serial_int(issued_serial) in revoked, crl_text
assert serial_int(signed_serial) not in revoked, crl_text
assert "Issuer: CN = Sigil Test Root" in crl_text, crl_text
# The CRL is signed by the CA.
out = subprocess.run(
    ["openssl", "crl", "-inform", "DER", "-in", path("crl.der"), "-noout", "-CAfile", path("ca.pem")],
    capture_output=True,
    text=True,
)
assert out.returncode == 0 and "verify OK" in out.stderr + out.stdout, out
# hvac's read_crl reads crl/pem: the same CRL.
crl_pem = pki.read_crl(mount_point=MOUNT)
assert crl_pem.startswith("-----BEGIN X509 CRL-----"), crl_pem[:40]
write("crl.pem", crl_pem)
with open(path("crl.pem.der"), "wb") as f:
    f.write(subprocess.run(["openssl", "crl", "-in", path("crl.pem"), "-outform", "DER"], capture_output=True).stdout)
assert open(path("crl.pem.der"), "rb").read() == crl_der.content, "crl and crl/pem differ"
# openssl verify with the CRL: the revoked leaf fails, the other passes.
write("chain-crl.pem", ca_pem.strip() + "\n" + crl_pem)
bad = subprocess.run(
    ["openssl", "verify", "-crl_check", "-CAfile", path("chain-crl.pem"), path("issued.pem")],
    capture_output=True,
    text=True,
)
assert bad.returncode != 0 and "certificate revoked" in bad.stdout + bad.stderr, bad
out = openssl("verify", "-crl_check", "-CAfile", path("chain-crl.pem"), path("signed.pem"))
assert out.strip().endswith(": OK"), out
# Revoking by the certificate itself (Vault's `certificate` field) lands in the CRL too.
by_cert = raw("POST", "revoke", json={"certificate": open(path("signed.pem")).read()})
assert by_cert.status_code == 200 and by_cert.json()["data"]["revocation_time"] > 0, by_cert.text
both = raw("POST", "revoke", json={"certificate": open(path("signed.pem")).read(), "serial_number": signed_serial})
assert both.status_code == 400 and "not both" in " ".join(both.json()["errors"]), both.text
# crl/rotate re-signs on demand; either way the next CRL lists both serials.
rotated = raw("GET", "crl/rotate")
assert rotated.status_code == 200 and rotated.json()["data"]["success"] is True, rotated.text
write("crl2.der", raw("GET", "crl", token=False).content)
crl_text = openssl("crl", "-inform", "DER", "-in", path("crl2.der"), "-noout", "-text")
revoked = {serial_int(s) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", crl_text)}
assert {serial_int(issued_serial), serial_int(signed_serial)} <= revoked, crl_text

section("a leaf past its issuer")
# Legitimate difference: asked for a leaf outliving its CA, OpenBao refuses (its issuers'
# default leaf_not_after_behavior is "err"); Sigil issues it with notAfter cut to the CA's
# and a warning (Vault's "truncate"). Either way no leaf outlives its issuer.
root.sys.enable_secrets_engine("pki", path="pki-short")
short_ca = root.adapter.post(
    "/v1/pki-short/root/generate/internal", json={"common_name": "Short Root", "key_type": "ec", "ttl": "1h"}
)["data"]["certificate"]
root.adapter.post("/v1/pki-short/roles/any", json={"allow_any_name": True, "key_type": "ec"})
r = http.post(
    f"{ADDR}/v1/pki-short/issue/any",
    headers={"X-Vault-Token": ROOT},
    json={"common_name": "late.example.com", "ttl": "2h"},
    verify=CA,
)
if r.status_code == 400:
    assert "beyond the expiration of the CA certificate" in r.text, r.text
else:
    assert r.status_code == 200 and r.json()["warnings"], (r.status_code, r.text)
    leaf_end = openssl("x509", "-noout", "-enddate", input=r.json()["data"]["certificate"].encode())
    ca_end = openssl("x509", "-noout", "-enddate", input=short_ca.encode())
    assert leaf_end == ca_end, (leaf_end, ca_end)

section("bad input")
# Nothing below may issue anything: the stored list is compared at the end.
certs_before = sorted(pki.list_certificates(mount_point=MOUNT)["data"]["keys"])


def status(method, p, body=None):
    r = raw(method, p, json=body)
    return r.status_code, " ".join(r.json().get("errors", [])) if r.content else ""


code, msg = status("POST", "issue/nope", {"common_name": "www.example.com"})
assert code == 400 and "unknown role" in msg, (code, msg)
code, msg = status("POST", "issue/web", {"common_name": "www.example.org"})
assert code == 400 and "not allowed by this role" in msg, (code, msg)
code, msg = status("POST", "issue/web", {"common_name": "www.example.com", "alt_names": "evil.test"})
assert code == 400 and "not allowed by this role" in msg, (code, msg)
code, msg = status("POST", "sign/web", {"common_name": "csr.example.com", "csr": "not a csr"})
assert code == 400, (code, msg)
garbage = "-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n"
code, msg = status("POST", "sign/web", {"common_name": "csr.example.com", "csr": garbage})
assert code == 400, (code, msg)
# A CSR whose signature was tampered with: flip a bit in the signature's last byte.
der_csr = bytearray(
    subprocess.run(["openssl", "req", "-in", path("req.csr"), "-outform", "DER"], capture_output=True).stdout
)
der_csr[-1] ^= 0x01
write("bad.der", bytes(der_csr))
tampered = openssl("req", "-inform", "DER", "-in", path("bad.der"), "-outform", "PEM")
# openssl itself says so (and exits 0, so the words are what to check).
check = subprocess.run(["openssl", "req", "-verify", "-noout"], input=tampered, capture_output=True, text=True)
assert "verify failure" in check.stdout + check.stderr, check
code, msg = status("POST", "sign/web", {"common_name": "csr.example.com", "csr": tampered})
assert code == 400, (code, msg)
# A CSR for a name outside the role.
openssl(
    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", path("evil.key"), "-out", path("evil.csr"), "-subj", "/CN=evil.test",
)
code, msg = status("POST", "sign/web", {"common_name": "evil.test", "csr": open(path("evil.csr")).read()})
assert code == 400 and "not allowed by this role" in msg, (code, msg)
# A CSR whose key the role does not allow.
openssl(
    "req", "-new", "-newkey", "rsa:2048", "-nodes",
    "-keyout", path("rsa.key"), "-out", path("rsa.csr"), "-subj", "/CN=rsa.example.com",
)
code, msg = status("POST", "sign/web", {"common_name": "rsa.example.com", "csr": open(path("rsa.csr")).read()})
assert code == 400 and "role requires keys of type ec" in msg, (code, msg)
code, msg = status("POST", "issue/web", {})
assert code == 400 and "the common_name field is required" in msg, (code, msg)
# Revoking a serial never issued, and the issuer itself.
code, msg = status("POST", "revoke", {"serial_number": "01:02:03:04"})
assert code == 400 and "certificate with serial 01:02:03:04 not found" in msg, (code, msg)
code, msg = status("POST", "revoke", {"serial_number": root_serial})
assert code == 400 and "to its own CRL" in msg, (code, msg)
raises(exc.InvalidPath, pki.read_role, "nope", mount_point=MOUNT)
# A root kind neither knows (OpenBao's "existing" and "kms" need more than this body).
code, msg = status("POST", "root/generate/bogus", {"common_name": "x"})
assert code == 400 and 'the "exported" path parameter must be "internal"' in msg, (code, msg)
# A body that is not JSON, a CSR far past any real one, and a body over the 32 MiB limit.
r = raw("POST", "issue/web", data=b"\x00\xffnot json{")
assert r.status_code == 400, (r.status_code, r.text)
huge_csr = "-----BEGIN CERTIFICATE REQUEST-----\n" + "QUFB\n" * 50_000 + "-----END CERTIFICATE REQUEST-----\n"
code, msg = status("POST", "sign/web", {"common_name": "csr.example.com", "csr": huge_csr})
assert code == 400, (code, msg)
r = raw("POST", "issue/web", data=b'{"common_name": "' + b"a" * (33 << 20) + b'"}')
assert r.status_code == 413, (r.status_code, r.text[:200])
assert sorted(pki.list_certificates(mount_point=MOUNT)["data"]["keys"]) == certs_before, "bad input issued"

print("OK")
