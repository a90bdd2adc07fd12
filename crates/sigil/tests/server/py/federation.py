"""SPIFFE federation between two Sigil servers, each with its own trust domain and its bundle
endpoint (https_spiffe profile).

Each server is told about the other with hvac: the foreign bundle endpoint's URL, the SPIFFE
ID it must authenticate as, and the foreign bundle fetched out of band. A refresh with the
wrong endpoint ID fails (recorded, the held bundle kept); with the right one the held
bundle is the one the endpoint serves. Then workloads of the two domains complete a
mutual-TLS handshake with Python's ssl (OpenSSL), each trusting its own bundle plus the
federated one, and a handshake trusting only its own bundle fails. Bad relationship
definitions get 400s. Prints OK last.

Environment: A_ADDR, A_TOKEN, A_CACERT, A_ENDPOINT and the same for B.
"""

import atexit
import os
import shutil
import socket
import ssl
import tempfile
import threading

import hvac
import requests

WORK = tempfile.mkdtemp(prefix="federation-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def section(name):
    print(f"-- {name}", flush=True)


def side(prefix):
    env = {k: os.environ[f"{prefix}_{k}"] for k in ("ADDR", "TOKEN", "CACERT", "ENDPOINT")}
    env["client"] = hvac.Client(url=env["ADDR"], token=env["TOKEN"], verify=env["CACERT"])
    env["td"] = env["client"].read("spiffe/config")["data"]["trust_domain"]
    return env


A, B = side("A"), side("B")
assert A["td"] != B["td"], (A["td"], B["td"])


def bundle_doc(s):
    r = requests.get(f"{s['ADDR']}/v1/spiffe/bundle", verify=s["CACERT"])
    assert r.status_code == 200, r.text
    return r.text


def bundle_pem(s):
    r = requests.get(f"{s['ADDR']}/v1/spiffe/bundle/pem", verify=s["CACERT"])
    assert r.status_code == 200, r.text
    return r.text


def expect_400(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except hvac.exceptions.InvalidRequest as e:
        return str(e)
    raise AssertionError(f"expected a 400 from {args}")


section("the bundle endpoints serve the SPIFFE bundle")
for s in (A, B):
    served = requests.get(s["ENDPOINT"], verify=False)
    assert served.status_code == 200 and served.json()["keys"], served.text

section("relationships, wrong endpoint ID first")
for local, foreign in ((A, B), (B, A)):
    c = local["client"]
    c.write(
        f"spiffe/federation/{foreign['td']}",
        bundle_endpoint_url=foreign["ENDPOINT"],
        endpoint_spiffe_id=f"spiffe://{foreign['td']}/not-the-server",
        trust_bundle=bundle_doc(foreign),
    )
    got = c.write(f"spiffe/federation/{foreign['td']}/refresh")["data"]
    assert got["last_error"] and got["fetched_at"] == 0, got
    assert got["bundle"] == bundle_pem(foreign), "the bootstrap bundle is kept"
    c.write(
        f"spiffe/federation/{foreign['td']}",
        endpoint_spiffe_id=f"spiffe://{foreign['td']}/sigil/server",
    )
    got = c.write(f"spiffe/federation/{foreign['td']}/refresh")["data"]
    assert got["last_error"] == "" and got["fetched_at"] > 0, got
    assert got["bundle"] == bundle_pem(foreign), got
    assert got["bundle_endpoint_profile"] == "https_spiffe", got
    assert c.list("spiffe/federations")["data"]["keys"] == [foreign["td"]]

section("bad relationships")
c = A["client"]
other = "elsewhere.test"
for body in (
    {},
    {"bundle_endpoint_url": "http://127.0.0.1:1", "endpoint_spiffe_id": f"spiffe://{other}/s", "trust_bundle": bundle_doc(B)},
    {"bundle_endpoint_url": B["ENDPOINT"], "endpoint_spiffe_id": f"spiffe://{B['td']}/s", "trust_bundle": bundle_doc(B)},
    {"bundle_endpoint_url": B["ENDPOINT"], "endpoint_spiffe_id": f"spiffe://{other}/s"},
    {"bundle_endpoint_url": B["ENDPOINT"], "endpoint_spiffe_id": f"spiffe://{other}/s", "trust_bundle": "{\"keys\": []}"},
    {"bundle_endpoint_url": B["ENDPOINT"], "endpoint_spiffe_id": f"spiffe://{other}/s", "trust_bundle": "garbage"},
):
    expect_400(c.write, f"spiffe/federation/{other}", **body)
expect_400(c.write, f"spiffe/federation/{A['td']}", bundle_endpoint_url=B["ENDPOINT"],
           endpoint_spiffe_id=f"spiffe://{A['td']}/x", trust_bundle=bundle_doc(A))
assert c.list("spiffe/federations")["data"]["keys"] == [B["td"]]

section("cross-domain mutual TLS")


def svid(s, name):
    got = s["client"].write("spiffe/x509/mint", spiffe_id=f"spiffe://{s['td']}/{name}")["data"]
    cert, key = os.path.join(WORK, f"{name}.pem"), os.path.join(WORK, f"{name}.key")
    with open(cert, "w") as f:
        f.write(got["svid"])
    with open(key, "w") as f:
        f.write(got["private_key"])
    return cert, key


def trust(s, federated):
    path = os.path.join(WORK, f"trust-{s['td']}-{federated}.pem")
    text = bundle_pem(s)
    if federated:
        foreign = B if s is A else A
        text += s["client"].read(f"spiffe/federation/{foreign['td']}")["data"]["bundle"]
    with open(path, "w") as f:
        f.write(text)
    return path


def handshake(server_trust, client_trust):
    """A TLS 1.3 server (B's workload) and client (A's workload), both requiring the peer's
    certificate; returns the peer URI SAN each side saw, or the client's error."""
    server_cert, server_key = svid(B, "api")
    client_cert, client_key = svid(A, "web")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server_cert, server_key)
    sctx.load_verify_locations(server_trust)
    sctx.verify_mode = ssl.CERT_REQUIRED
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False  # SPIFFE authenticates the URI SAN, checked below
    cctx.load_cert_chain(client_cert, client_key)
    cctx.load_verify_locations(client_trust)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    seen = {}

    def serve():
        try:
            conn, _ = listener.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                seen["server"] = tls.getpeercert()
                tls.sendall(b"hi")
        except (ssl.SSLError, OSError) as e:
            seen["server_error"] = str(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with cctx.wrap_socket(raw) as tls:
                seen["client"] = tls.getpeercert()
                assert tls.recv(2) == b"hi"
    except (ssl.SSLError, OSError) as e:
        seen["client_error"] = str(e)
    t.join(15)
    listener.close()
    return seen


def uri(cert):
    return [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]


seen = handshake(trust(B, True), trust(A, True))
assert "client_error" not in seen and "server_error" not in seen, seen
assert uri(seen["client"]) == [f"spiffe://{B['td']}/api"], seen
assert uri(seen["server"]) == [f"spiffe://{A['td']}/web"], seen
seen = handshake(trust(B, True), trust(A, False))
assert "client_error" in seen, "without B's bundle, A's workload must refuse B's"

print("OK")
