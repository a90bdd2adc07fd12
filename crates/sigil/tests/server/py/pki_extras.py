"""hvac's session, requests and openssl against the pki engine's extras: config/urls and the
AIA and CRL Distribution Points extensions they put in issued certificates (and take out
again), sign-verbatim, role options beyond names (key usages, EKUs, subject fields, CSR
handling), the private key containers, tidy of an expired certificate, and cert/crl.
openssl judges every certificate and key.

The same script runs against Sigil and against a real OpenBao dev server, so every check
encodes what OpenBao does. Where the two differ on purpose the check accepts both; those
places are marked "legitimate difference".

Reads SIGIL_ADDR, SIGIL_TOKEN and SIGIL_CACERT (empty: plain HTTP). Exits non-zero with the
failing check's message on the first failure; prints OK at the end."""

import atexit
import base64
import os
import shutil
import subprocess
import tempfile
import time

import hvac
import requests

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
MOUNT = "pkix"
WORK = tempfile.mkdtemp(prefix="pki-extras-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)

root = hvac.Client(url=ADDR, token=ROOT, verify=CA)
http = requests.Session()


def section(name):
    print(f"-- {name}", flush=True)


def path(name):
    return os.path.join(WORK, name)


def write_file(name, data):
    with open(path(name), "w") as f:
        f.write(data)
    return path(name)


def openssl(*args, input=None):
    """Runs openssl; returns stdout, or fails with what it printed."""
    out = subprocess.run(["openssl", *args], input=input, capture_output=True)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr.decode()}"
    return out.stdout.decode()


def call(method, p, body=None):
    """(status, data, warnings, errors) of one request under the mount."""
    r = http.request(
        method, f"{ADDR}/v1/{MOUNT}/{p}", headers={"X-Vault-Token": ROOT}, json=body, verify=CA
    )
    doc = r.json() if r.content else {}
    return r.status_code, doc.get("data") or {}, doc.get("warnings") or [], doc.get("errors") or []


def ok(method, p, body=None):
    code, data, warnings, errors = call(method, p, body)
    assert code in (200, 204), f"{method} {p}: {code} {errors}"
    return data


def bad(p, body, *needles):
    code, _, _, errors = call("POST", p, body)
    text = " ".join(errors)
    assert code == 400, f"{p} {body}: {code} {text}"
    for n in needles:
        assert n in text, f"{p} {body}: {text!r} lacks {n!r}"


def cert_text(pem, name="c.pem"):
    return openssl("x509", "-in", write_file(name, pem), "-noout", "-text")


section("mount and root")
root.sys.enable_secrets_engine("pki", path=MOUNT)
root.sys.tune_mount_configuration(MOUNT, max_lease_ttl="87600h")
ok("POST", "root/generate/internal", {"common_name": "Extras Root", "key_type": "ec", "ttl": "87600h"})
ok("POST", "roles/web", {"allowed_domains": "example.com", "allow_subdomains": True, "key_type": "ec", "max_ttl": "24h"})

section("config/urls")
empty = ok("GET", "config/urls")
for key in ("issuing_certificates", "crl_distribution_points", "ocsp_servers"):
    assert empty[key] == [], empty
text = cert_text(ok("POST", "issue/web", {"common_name": "a.example.com", "ttl": "1h"})["certificate"])
assert "Authority Information Access" not in text and "CRL Distribution Points" not in text, text
urls = {
    "issuing_certificates": ["http://ca.example/v1/pkix/ca"],
    "crl_distribution_points": ["http://ca.example/v1/pkix/crl"],
    "ocsp_servers": ["http://ocsp.example/ocsp"],
}
written = ok("POST", "config/urls", urls)
read = ok("GET", "config/urls")
for key, value in urls.items():
    assert read[key] == value, (key, read)
    # Vault answers the write with the URLs as stored (older servers answered 204).
    assert not written or written[key] == value, (key, written)
bad("config/urls", {"ocsp_servers": ["not a url"]},
    "invalid URL found in Authority Information Access (AIA) parameter ocsp_servers")
assert ok("GET", "config/urls") == read, "a refused write changed nothing"

# issue, sign and sign-verbatim all carry both extensions.
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("s.key"), "-out", path("s.csr"), "-subj", "/CN=s.example.com",
        "-addext", "subjectAltName=DNS:s.example.com")
csr = open(path("s.csr")).read()
for p, body in (
    ("issue/web", {"common_name": "a.example.com", "ttl": "1h"}),
    ("sign/web", {"csr": csr, "ttl": "1h"}),
    ("sign-verbatim", {"csr": csr, "ttl": "1h"}),
):
    text = cert_text(ok("POST", p, body)["certificate"])
    assert "Authority Information Access" in text, (p, text)
    assert "CA Issuers - URI:http://ca.example/v1/pkix/ca" in text, (p, text)
    assert "OCSP - URI:http://ocsp.example/ocsp" in text, (p, text)
    assert "CRL Distribution Points" in text and "URI:http://ca.example/v1/pkix/crl" in text, (p, text)
# Emptied again: the extensions go away.
ok("POST", "config/urls", {"issuing_certificates": [], "crl_distribution_points": [], "ocsp_servers": []})
text = cert_text(ok("POST", "issue/web", {"common_name": "a.example.com", "ttl": "1h"})["certificate"])
assert "Authority Information Access" not in text and "CRL Distribution Points" not in text, text

section("sign-verbatim")
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("v.key"), "-out", path("v.csr"), "-subj", "/O=Example Org/OU=Ops/CN=Not A Host",
        "-addext", "subjectAltName=DNS:anything.invalid")
vcsr = open(path("v.csr")).read()
# sign/ applies the role's name policy; sign-verbatim does not.
bad("sign/web", {"csr": vcsr}, "not allowed by this role")
signed = ok("POST", "sign-verbatim", {"csr": vcsr, "ttl": "2h", "key_usage": ["DigitalSignature"],
                                      "ext_key_usage": ["CodeSigning"]})
assert "private_key" not in signed, signed
text = cert_text(signed["certificate"])
subject = openssl("x509", "-in", path("c.pem"), "-noout", "-subject")
for part in ("O = Example Org", "OU = Ops", "CN = Not A Host"):
    assert part in subject, (part, subject)
assert "DNS:anything.invalid" in text, text
assert "Digital Signature" in text and "Key Encipherment" not in text, text
assert "Code Signing" in text and "TLS Web Server Authentication" not in text, text
# The key in the certificate is the CSR's.
assert openssl("x509", "-in", path("c.pem"), "-noout", "-pubkey") == openssl("pkey", "-in", path("v.key"), "-pubout")
# Under a role its max_ttl caps the lifetime (24h here); the names are still the CSR's.
capped = ok("POST", "sign-verbatim/web", {"csr": vcsr, "ttl": "48h"})
write_file("capped.pem", capped["certificate"])
assert "O = Example Org" in openssl("x509", "-in", path("capped.pem"), "-noout", "-subject")
assert openssl("x509", "-in", path("capped.pem"), "-noout", "-checkend", str(23 * 3600)).strip()
check = subprocess.run(["openssl", "x509", "-in", path("capped.pem"), "-noout", "-checkend", str(25 * 3600)],
                       capture_output=True)
assert check.returncode == 1, "a 48h request under a 24h role must be capped"
bad("sign-verbatim", {"ttl": "1h"})
bad("sign-verbatim/nope", {"csr": vcsr})
# sign-verbatim is a sudo path (as Vault documents it): a token whose policy grants update
# there without sudo is refused, and is let through once the policy adds sudo. OpenBao does
# not mark the path (its pki backend's root paths are `root` and `root/sign-self-issued`), so
# there the first call already succeeds.
OPENBAO = os.environ.get("PKI_SERVER") == "openbao"
for caps, name in ((["create", "update"], "verbatim-nosudo"), (["create", "update", "sudo"], "verbatim-sudo")):
    root.sys.create_or_update_acl_policy(name, f'path "{MOUNT}/sign-verbatim*" {{ capabilities = {caps!r} }}'.replace("'", '"'))
    token = root.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
    r = requests.post(f"{ADDR}/v1/{MOUNT}/sign-verbatim", headers={"X-Vault-Token": token},
                      json={"csr": vcsr, "ttl": "1h"}, verify=CA)
    want = 200 if "sudo" in caps or OPENBAO else 403
    assert r.status_code == want, (name, r.status_code, r.text)

section("role options")
opts = {
    "allowed_domains": "example.org", "allow_subdomains": True, "key_type": "ec",
    "key_usage": ["DigitalSignature", "KeyAgreement"],
    "ext_key_usage": ["ClientAuth", "CodeSigning"],
    "ext_key_usage_oids": ["1.3.6.1.4.1.55555.1"],
    "server_flag": False, "client_flag": False,
    "enforce_hostnames": False, "allow_wildcard_certificates": False,
    "use_csr_common_name": False, "use_csr_sans": False, "require_cn": False,
    "ou": ["Ops"], "organization": ["Example Org"], "country": ["NL"], "locality": ["Amsterdam"],
    "province": ["Noord-Holland"], "street_address": ["Dam 1"], "postal_code": ["1012 JS"],
}
ok("POST", "roles/rich", opts)
role = ok("GET", "roles/rich")
for key, value in opts.items():
    if key in ("allowed_domains",):
        continue
    assert role[key] == value, (key, role[key], value)
# Defaults, as Vault reads them back.
ok("POST", "roles/plain", {"allow_any_name": True})
plain = ok("GET", "roles/plain")
assert plain["key_usage"] == ["DigitalSignature", "KeyAgreement", "KeyEncipherment"], plain["key_usage"]
for key in ("enforce_hostnames", "allow_wildcard_certificates", "use_csr_common_name", "use_csr_sans", "require_cn"):
    assert plain[key] is True, (key, plain[key])
for key in ("ext_key_usage", "ext_key_usage_oids", "ou", "organization", "country", "locality",
            "province", "street_address", "postal_code"):
    assert plain[key] == [], (key, plain[key])

leaf = ok("POST", "issue/rich", {"common_name": "svc.example.org", "ttl": "1h"})
text = cert_text(leaf["certificate"])
subject = openssl("x509", "-in", path("c.pem"), "-noout", "-subject")
for part in ("C = NL", "ST = Noord-Holland", "L = Amsterdam", "street = Dam 1", "postalCode = 1012 JS",
             "O = Example Org", "OU = Ops", "CN = svc.example.org"):
    assert part in subject, (part, subject)
assert "Digital Signature, Key Agreement" in text, text
assert "Key Encipherment" not in text, text
assert "TLS Web Client Authentication" in text and "Code Signing" in text, text
assert "1.3.6.1.4.1.55555.1" in text and "TLS Web Server Authentication" not in text, text
# allow_wildcard_certificates=false refuses a wildcard the domain rules would allow.
bad("issue/rich", {"common_name": "*.example.org"})
# require_cn=false: SANs only.
nocn = ok("POST", "issue/rich", {"alt_names": "only.example.org", "ttl": "1h"})
write_file("nocn.pem", nocn["certificate"])
assert "CN =" not in openssl("x509", "-in", path("nocn.pem"), "-noout", "-subject")
assert "DNS:only.example.org" in openssl("x509", "-in", path("nocn.pem"), "-noout", "-ext", "subjectAltName")
bad("issue/plain", {"alt_names": "only.example.org"}, "common_name")
# use_csr_common_name / use_csr_sans = false: the body's names win over the CSR's.
openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("r.key"), "-out", path("r.csr"), "-subj", "/CN=csr.example.org",
        "-addext", "subjectAltName=DNS:csr.example.org")
signed = ok("POST", "sign/rich", {"csr": open(path("r.csr")).read(), "common_name": "body.example.org",
                                  "alt_names": "alt.example.org", "ttl": "1h"})
write_file("r.pem", signed["certificate"])
assert "CN = body.example.org" in openssl("x509", "-in", path("r.pem"), "-noout", "-subject")
sans = openssl("x509", "-in", path("r.pem"), "-noout", "-ext", "subjectAltName")
assert "DNS:alt.example.org" in sans and "csr.example.org" not in sans, sans
# Bad values.
bad("roles/bad", {"ext_key_usage_oids": ["1.3.x"]}, "could not be parsed as a valid oid")
bad("roles/bad", {"enforce_hostnames": "maybe"})
# Legitimate difference: OpenBao skips a key usage name it does not know (the certificate
# silently lacks it); Sigil refuses the role, so a typo cannot drop a usage unnoticed.
code, _, _, errors = call("POST", "roles/typo", {"key_usage": ["DigitalSignature", "DigitalSignatur"]})
assert code in (200, 204, 400), (code, errors)
if code == 400:
    assert "DigitalSignatur" in " ".join(errors), errors

section("private key formats")
for key_type, bits, native in (("ec", 256, "EC PRIVATE KEY"), ("rsa", 2048, "RSA PRIVATE KEY"),
                               ("ed25519", 0, "PRIVATE KEY")):
    ok("POST", f"roles/k-{key_type}", {"allow_any_name": True, "key_type": key_type, "key_bits": bits})
    for fmt, label in (("", native), ("der", native), ("pkcs8", "PRIVATE KEY")):
        body = {"common_name": "k.example.com", "ttl": "1h"}
        if fmt:
            body["private_key_format"] = fmt
        out = ok("POST", f"issue/k-{key_type}", body)
        pem = out["private_key"]
        assert pem.startswith(f"-----BEGIN {label}-----"), (key_type, fmt, pem[:40])
        write_file("k.pem", pem)
        write_file("kc.pem", out["certificate"])
        assert openssl("pkey", "-in", path("k.pem"), "-pubout") == openssl(
            "x509", "-in", path("kc.pem"), "-noout", "-pubkey"), (key_type, fmt)
        if label == "EC PRIVATE KEY":
            openssl("ec", "-in", path("k.pem"), "-noout", "-check")
    # format=der: bare base64 of the same container.
    out = ok("POST", f"issue/k-{key_type}", {"common_name": "k.example.com", "ttl": "1h", "format": "der"})
    assert not out["private_key"].startswith("-----"), out["private_key"][:40]
    with open(path("k.der"), "wb") as f:
        f.write(base64.b64decode(out["private_key"]))
    openssl("pkey", "-inform", "DER", "-in", path("k.der"), "-noout")

section("tidy")
short = ok("POST", "issue/web", {"common_name": "short.example.com", "ttl": "2s"})
keep = ok("POST", "issue/web", {"common_name": "keep.example.com", "ttl": "1h"})
deadline = time.time() + 20
while time.time() < deadline:
    time.sleep(1)
    write_file("short.pem", short["certificate"])
    if subprocess.run(["openssl", "x509", "-in", path("short.pem"), "-noout", "-checkend", "0"],
                      capture_output=True).returncode == 1:
        break
# Past notAfter plus a one-second buffer.
time.sleep(2)
code, _, warnings, errors = call("POST", "tidy", {"tidy_cert_store": True, "safety_buffer": "1s"})
assert code == 202, (code, errors)
assert any(w.startswith("Tidy operation successfully started") for w in warnings), warnings
# OpenBao tidies in the background, Sigil before answering: poll tidy-status, bounded.
deadline = time.time() + 30
while time.time() < deadline:
    st = ok("GET", "tidy-status")
    if st.get("state") == "Finished":
        break
    time.sleep(0.5)
assert st.get("state") == "Finished", st
assert st["cert_store_deleted_count"] >= 1, st
code, _, _, _ = call("GET", f"cert/{short['serial_number']}")
# A tidied certificate is gone: OpenBao answers the read with no certificate (200 with
# nulls or 404, by version), Sigil 404.
if code == 200:
    assert not ok("GET", f"cert/{short['serial_number']}").get("certificate"), "tidied"
else:
    assert code == 404, code
assert ok("GET", f"cert/{keep['serial_number']}")["certificate"].strip() == keep["certificate"].strip()
keys = ok("LIST", "certs")["keys"]
assert short["serial_number"] not in keys and keep["serial_number"] in keys, keys
bad("tidy", {"tidy_cert_store": True, "safety_buffer": 0}, "safety_buffer must be greater than zero")

section("cert/crl")
crl = ok("GET", "cert/crl")["certificate"]
assert crl.startswith("-----BEGIN X509 CRL-----"), crl[:40]
r = http.get(f"{ADDR}/v1/{MOUNT}/crl/pem", verify=CA)
assert r.status_code == 200, r.status_code
assert crl.strip() == r.text.strip(), "cert/crl is the CRL crl/pem serves"
assert "Extras Root" in openssl("crl", "-in", write_file("crl.pem", crl), "-noout", "-issuer")

print("OK")
