"""Vault's wire conventions, checked with raw HTTP (requests): auth headers, verbs, the
envelope, errors and statuses, limits, and that bad requests change nothing."""

import os

import requests

ADDR = os.environ["SIGIL_ADDR"] + "/v1/"
CA = os.environ["SIGIL_CACERT"]
ROOT = os.environ["SIGIL_TOKEN"]
S = requests.Session()
S.verify = CA


def call(method, path, token=ROOT, bearer=False, **kw):
    headers = kw.pop("headers", {})
    if token is not None:
        if bearer:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["X-Vault-Token"] = token
    # verify per request: a session-level setting loses to REQUESTS_CA_BUNDLE from the env.
    return S.request(method, ADDR + path, headers=headers, timeout=30, verify=CA, **kw)


def expect(resp, status, contains=None):
    assert resp.status_code == status, (resp.request.method, resp.url, resp.status_code, resp.text[:300])
    if contains is not None:
        assert contains in resp.text, (resp.url, resp.text[:300])
    return resp


# Both token headers.
expect(call("GET", "auth/token/lookup-self"), 200)
expect(call("GET", "auth/token/lookup-self", bearer=True), 200)

# No token, a bad token → 403 "permission denied".
expect(call("GET", "secret/data/x", token=None), 403, "permission denied")
expect(call("GET", "secret/data/x", token="hvs.AAAAAAAAAAAAAAAAAAAAAAAA"), 403, "permission denied")
assert call("GET", "secret/data/x", token=None).json() == {"errors": ["permission denied"]}

# PUT ≡ POST; the envelope.
r = expect(call("POST", "secret/data/w", json={"data": {"a": "1"}}), 200)
body = r.json()
for key in ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"]:
    assert key in body, (key, body)
expect(call("PUT", "secret/data/w", json={"data": {"a": "2"}}), 200)
assert call("GET", "secret/data/w").json()["data"]["data"] == {"a": "2"}

# LIST and GET ?list=true; an empty list is 404 with no errors.
assert call("LIST", "secret/metadata/").json()["data"]["keys"] == ["w"]
assert call("GET", "secret/metadata", params={"list": "true"}).json()["data"]["keys"] == ["w"]
r = expect(call("LIST", "secret/metadata/none/"), 404)
assert r.json() == {"errors": []}, r.text

# sys/ responses repeat data at the top level.
m = call("GET", "sys/mounts").json()
assert "secret/" in m and "secret/" in m["data"], m.keys()

# Unknown paths and operations.
expect(call("GET", "nomount/x"), 404)
expect(call("GET", "sys/nonesuch"), 404)

# Missing entry: 404 with an empty error list.
r = expect(call("GET", "secret/data/missing"), 404)

# Malformed and oversized bodies change nothing.
expect(call("POST", "secret/data/bad", data=b'{"data": {"a": '), 400)
expect(call("POST", "secret/data/bad", data=b"[1, 2]"), 400)
expect(call("POST", "secret/data/bad", data=b"\xff\xfe"), 400)
expect(call("GET", "secret/data/bad"), 404)
big = b'{"data":{"k":"' + b"x" * (33 * 1024 * 1024) + b'"}}'
expect(call("POST", "secret/data/bad", data=big), 413)
expect(call("GET", "secret/data/bad"), 404)
expect(call("POST", "sys/mounts/bad", json={"type": "kv", "config": "nope"}), 400)
assert "bad/" not in call("GET", "sys/mounts").json()["data"]
expect(call("POST", "sys/policies/acl/bad", json={"policy": 'path "x" { capabilities = ["fly"] }'}), 400)
expect(call("GET", "sys/policies/acl/bad"), 404)

# Health: GET and HEAD, and the code overrides.
h = expect(call("GET", "sys/health", token=None), 200).json()
assert h["initialized"] is True and h["sealed"] is False and "version" in h, h
r = S.head(ADDR + "sys/health", timeout=30, verify=CA)
assert r.status_code == 200 and r.text == "", (r.status_code, r.text)
expect(call("GET", "sys/health", token=None, params={"activecode": "299"}), 299)
# hvac sends GET sys/health with a JSON body: accepted.
expect(call("GET", "sys/health", token=None, json={"standbyok": True}), 200)

# Request ids are UUIDs and differ.
a = call("GET", "sys/mounts").json()["request_id"]
b = call("GET", "sys/mounts").json()["request_id"]
assert a != b and len(a) == 36, (a, b)

# Metrics in Prometheus text format.
r = expect(call("GET", "sys/metrics", params={"format": "prometheus"}), 200)
assert r.headers["Content-Type"].startswith("text/plain"), r.headers
assert "sigil_http_request_duration_seconds_count" in r.text and "sigil_core_sealed 0" in r.text, r.text[:500]
# Requests are counted by the mount that served them, also when refused before the engine ran.
for series in ('mount="secret/",method="GET",status="200"', 'mount="secret/",method="GET",status="403"',
               'mount="auth/token/",method="GET",status="200"', 'mount="sys/",method="GET",status="200"'):
    assert series in r.text, series
expect(call("GET", "sys/metrics", token=None, params={"format": "prometheus"}), 403)

# The KV pre-flight the CLI uses.
pre = call("GET", "sys/internal/ui/mounts/secret/app").json()["data"]
assert pre["path"] == "secret/" and pre["options"]["version"] == "2", pre

# Response wrapping is refused clearly rather than ignored.
expect(call("POST", "auth/token/create", headers={"X-Vault-Wrap-TTL": "60s"}, json={}), 400)

print("OK")
