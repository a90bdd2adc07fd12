"""The Shamir seal lifecycle through hvac against `sigil server` (plain HTTP on loopback)."""

import os

import hvac
import requests

ADDR = os.environ["SIGIL_ADDR"]
c = hvac.Client(url=ADDR)

assert requests.get(ADDR + "/v1/sys/health", timeout=10).status_code == 501
assert requests.get(ADDR + "/v1/sys/health?uninitcode=200", timeout=10).status_code == 200
assert c.sys.is_initialized() is False
init = c.sys.initialize(secret_shares=3, secret_threshold=2)
keys, root = init["keys"], init["root_token"]
assert len(keys) == 3 and len(init["keys_base64"]) == 3 and root.startswith("hvs."), init
assert c.sys.is_initialized()
try:
    c.sys.initialize(secret_shares=3, secret_threshold=2)
    raise AssertionError("initialized twice")
except hvac.exceptions.InvalidRequest:
    pass

# Sealed: 503 "Vault is sealed" for everything but seal and health endpoints.
c.token = root
r = requests.get(ADDR + "/v1/secret/data/x", headers={"X-Vault-Token": root}, timeout=10)
assert r.status_code == 503 and r.json() == {"errors": ["Vault is sealed"]}, r.text
assert requests.get(ADDR + "/v1/sys/health", timeout=10).status_code == 503
st = c.sys.read_seal_status()
assert st["sealed"] and st["t"] == 2 and st["n"] == 3 and st["progress"] == 0, st

st = c.sys.submit_unseal_key(keys[2])
assert st["sealed"] and st["progress"] == 1, st
st = c.sys.submit_unseal_key(reset=True)
assert st["progress"] == 0, st
try:
    c.sys.submit_unseal_key("zz-not-a-key")
    raise AssertionError("accepted a malformed key")
except hvac.exceptions.InvalidRequest:
    pass
st = c.sys.submit_unseal_keys([keys[0], keys[2]])
assert not st["sealed"], st
assert c.is_authenticated()

c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
c.secrets.kv.v2.create_or_update_secret("x", secret={"k": "v"})
c.sys.seal()
assert c.sys.is_sealed()
r = requests.get(ADDR + "/v1/secret/data/x", headers={"X-Vault-Token": root}, timeout=10)
assert r.status_code == 503, r.text
c.sys.submit_unseal_keys([keys[1], keys[0]])
assert c.secrets.kv.v2.read_secret_version("x", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
print("OK")
