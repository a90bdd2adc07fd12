"""Checks that every key given (comma-separated) reads back with its value."""

import os
import sys

import requests

addr = os.environ["SIGIL_ADDR"] + "/v1/secret/data/crash/"
s = requests.Session()
CA = os.environ["SIGIL_CACERT"]
s.headers["X-Vault-Token"] = os.environ["SIGIL_TOKEN"]
keys = [k for k in sys.argv[1].split(",") if k]
missing = []
for key in keys:
    r = s.get(addr + key, timeout=10, verify=CA)
    if r.status_code != 200 or r.json()["data"]["data"]["v"] != f"plaintext-marker-{key}":
        missing.append(key)
if missing:
    print(f"{len(missing)} of {len(keys)} acknowledged writes lost: {missing[:10]}")
    sys.exit(1)
print(f"all {len(keys)} acknowledged writes present")
