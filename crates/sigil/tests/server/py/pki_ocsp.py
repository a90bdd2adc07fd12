"""openssl against the pki engine's OCSP responder, and a real mutual-TLS handshake with
certificates the engine issued.

Part one: an EC root, two leaves, one revoked. `openssl ocsp` asks by POST and must report
`good` for one, `revoked` for the other, and verify the responder's signature against the
CA; a request written with `-reqout` is then sent by GET (base64, URL-escaped, no token)
and its answer judged by `openssl ocsp -respin`. A malformed request gets a
`malformedRequest` answer with 400.

Part two: a server and a client certificate from the same role; `openssl s_server` demands
a verified client certificate (`-Verify 1 -verify_return_error`) on a free local port; `openssl s_client` completes the
handshake with the engine's client certificate, and fails without one or with one from
another CA (a second pki mount).

The same script runs against Sigil and against a real OpenBao dev server. Where the two
differ on purpose the check accepts both; those places are marked "legitimate difference".
OCSP_SERVER=openbao names the OpenBao run (default: Sigil).

Reads SIGIL_ADDR, SIGIL_TOKEN and SIGIL_CACERT (empty: plain HTTP). Exits non-zero with the
failing check's message on the first failure; prints OK at the end."""

import atexit
import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import hvac
import requests

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
OPENBAO = os.environ.get("OCSP_SERVER") == "openbao"
WORK = tempfile.mkdtemp(prefix="pki-ocsp-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
# Bounds every openssl run, so a hung handshake fails the check instead of the suite.
TIMEOUT = 30


def section(name):
    print(f"-- {name}", flush=True)


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path(name), mode) as f:
        f.write(data)
    return path(name)


def run(*args, input=None):
    """Runs openssl; returns (exit code, stdout, stderr) as text."""
    out = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=TIMEOUT)
    return out.returncode, out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")


def openssl(*args, input=None):
    """Runs openssl; returns stdout and stderr together, or fails with what it printed."""
    code, out, err = run(*args, input=input)
    assert code == 0, f"openssl {' '.join(args)}: {out}{err}"
    return out + err


root = hvac.Client(url=ADDR, token=ROOT, verify=CA)


def make_ca(mount, name):
    """A pki mount with an EC root and a role that issues anything; the root's PEM."""
    root.sys.enable_secrets_engine("pki", path=mount)
    root.sys.tune_mount_configuration(mount, max_lease_ttl="87600h")
    gen = root.secrets.pki.generate_root(
        "internal", name, extra_params={"key_type": "ec", "ttl": "87600h"}, mount_point=mount
    )["data"]
    root.secrets.pki.create_or_update_role(
        "any", extra_params={"allow_any_name": True, "key_type": "ec", "max_ttl": "72h"}, mount_point=mount
    )
    return gen["certificate"]


def issue(mount, cn, name, **extra):
    """Issues a leaf; writes name.pem and name.key; returns the serial."""
    d = root.secrets.pki.generate_certificate(
        "any", cn, extra_params={"ttl": "1h", **extra}, mount_point=mount
    )["data"]
    write(f"{name}.pem", d["certificate"])
    write(f"{name}.key", d["private_key"])
    return d["serial_number"]


section("setup")
write("ca.pem", make_ca("pki", "OCSP Test Root"))
good_serial = issue("pki", "good.example.com", "good")
revoked_serial = issue("pki", "revoked.example.com", "revoked")
root.secrets.pki.revoke_certificate(revoked_serial, mount_point="pki")
url = f"{ADDR}/v1/pki/ocsp"

section("POST with openssl ocsp")
# openssl's OCSP client speaks https (without checking the server's certificate: -CAfile
# only verifies the OCSP answer), so it reaches Sigil's TLS listener and OpenBao's plain
# HTTP one alike. Its default request carries a nonce.
for name, want in (("good", "good"), ("revoked", "revoked")):
    out = openssl(
        "ocsp", "-issuer", path("ca.pem"), "-cert", path(f"{name}.pem"), "-url", url,
        "-CAfile", path("ca.pem"), "-resp_text",
    )
    assert f"{path(name + '.pem')}: {want}" in out, out
    assert "Response verify OK" in out, out
    assert "OCSP Response Status: successful (0x0)" in out, out
    assert "Responder Id: " in out, out  # by key: a hex hash, not a name
    assert "Next Update: " in out, out
    if want == "revoked":
        assert "Revocation Time: " in out, out
    # Legitimate difference: OpenBao's OCSP library does not echo the nonce (openssl warns),
    # Sigil does, as RFC 8954 asks.
    if not OPENBAO:
        assert "WARNING: no nonce in response" not in out, out
        assert "OCSP Nonce" in out, out

# A CertID hashed with SHA-256 instead of SHA-1 (the digest option comes before -cert).
out = openssl(
    "ocsp", "-issuer", path("ca.pem"), "-sha256", "-cert", path("revoked.pem"), "-url", url,
    "-CAfile", path("ca.pem"), "-no_nonce",
)
assert f"{path('revoked.pem')}: revoked" in out and "Response verify OK" in out, out

section("an unknown serial")
out = openssl(
    "ocsp", "-issuer", path("ca.pem"), "-serial", "0x7f0102030405", "-url", url,
    "-CAfile", path("ca.pem"),
)
# Legitimate difference: OpenBao answers `good` for any serial it has not seen revoked;
# Sigil answers `unknown` for a serial it never issued (RFC 6960 §2.2: "unknown" is for
# what the responder does not know).
assert ("0x7f0102030405: good" if OPENBAO else "0x7f0102030405: unknown") in out, out
assert "Response verify OK" in out, out

section("GET")
openssl(
    "ocsp", "-issuer", path("ca.pem"), "-cert", path("revoked.pem"), "-no_nonce",
    "-reqout", path("req.der"),
)
with open(path("req.der"), "rb") as f:
    req_b64 = base64.b64encode(f.read()).decode()
r = requests.get(f"{url}/{urllib.parse.quote(req_b64, safe='')}", verify=CA)
assert r.status_code == 200, f"GET ocsp: {r.status_code} {r.content!r}"
assert r.headers["Content-Type"] == "application/ocsp-response", r.headers
write("resp.der", r.content)
out = openssl(
    "ocsp", "-respin", path("resp.der"), "-issuer", path("ca.pem"), "-cert", path("revoked.pem"),
    "-CAfile", path("ca.pem"), "-resp_text",
)
assert f"{path('revoked.pem')}: revoked" in out, out
assert "Response verify OK" in out, out

section("malformed")
r = requests.post(url, data=b"not an ocsp request", headers={"Content-Type": "application/ocsp-request"}, verify=CA)
assert r.status_code == 400, f"{r.status_code} {r.content!r}"
assert r.headers["Content-Type"] == "application/ocsp-response", r.headers
assert r.content == bytes.fromhex("30030a0101"), r.content  # OCSPResponse malformedRequest
r = requests.get(f"{url}/{urllib.parse.quote(base64.b64encode(b'junk').decode(), safe='')}", verify=CA)
assert r.status_code == 400 and r.content == bytes.fromhex("30030a0101"), (r.status_code, r.content)

# `ocsp` itself is for POST only; `ocsp/` with nothing after it is an empty request.
r = requests.get(url, verify=CA)
assert r.status_code == 405, f"GET ocsp: {r.status_code} {r.text}"
r = requests.get(f"{url}/", verify=CA)
assert r.status_code == 400 and r.content == bytes.fromhex("30030a0101"), (r.status_code, r.content)

section("mutual TLS")
issue("pki", "localhost", "srv", ip_sans="127.0.0.1")
issue("pki", "client.example.com", "cli")
write("other-ca.pem", make_ca("pki-other", "Another Root"))
issue("pki-other", "intruder.example.com", "intruder")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
# -verify_return_error: without it s_server only logs a client certificate that fails
# verification and serves the page anyway.
server = subprocess.Popen(
    ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", path("srv.pem"),
     "-key", path("srv.key"), "-CAfile", path("ca.pem"), "-Verify", "1", "-verify_return_error",
     "-www"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)


def stop_server():
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


atexit.register(stop_server)
deadline = time.monotonic() + 15
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        assert server.poll() is None, "s_server exited"
        assert time.monotonic() < deadline, "s_server did not start"
        time.sleep(0.1)


def handshake(*cert):
    """One s_client call asking for a page: (exit code, everything printed)."""
    code, out, err = run(
        "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", path("ca.pem"),
        "-verify_return_error", "-verify_ip", "127.0.0.1", "-ign_eof", *cert,
        input=b"GET / HTTP/1.0\r\n\r\n",
    )
    return code, out + err


code, out = handshake("-cert", path("cli.pem"), "-key", path("cli.key"))
assert code == 0, out
assert "Verify return code: 0 (ok)" in out, out
assert "HTTP/1.0 200 ok" in out, out  # the server accepted the client certificate
for label, cert in (
    ("no client certificate", ()),
    ("another CA's certificate", ("-cert", path("intruder.pem"), "-key", path("intruder.key"))),
):
    code, out = handshake(*cert)
    # Under TLS 1.3 the server refuses after the client's Finished, so s_client may still
    # exit 0; what matters is that no page came back and the alert did.
    assert "HTTP/1.0 200 ok" not in out, f"{label}: {out}"
    assert "alert" in out.lower(), f"{label}: {out}"

print("OK")
