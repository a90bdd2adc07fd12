"""Writes KV v2 secrets until the server goes away, printing each key after the server
acknowledged it."""

import os
import sys

import requests

addr = os.environ["SIGIL_ADDR"] + "/v1/secret/data/crash/"
s = requests.Session()
CA = os.environ["SIGIL_CACERT"]
s.headers["X-Vault-Token"] = os.environ["SIGIL_TOKEN"]
for i in range(100000):
    key = f"k{i}"
    try:
        r = s.post(addr + key, json={"data": {"v": f"plaintext-marker-{i}"}}, timeout=10, verify=CA)
    except Exception:
        break
    if r.status_code != 200:
        break
    print(key, flush=True)
sys.exit(0)
