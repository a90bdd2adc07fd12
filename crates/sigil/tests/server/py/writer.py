"""Writes KV v2 secrets until the server goes away, printing each key after the server
acknowledged it."""

import os
import sys

import requests

addr = os.environ["SIGIL_ADDR"] + "/v1/secret/data/crash/"
s = requests.Session()
CA = os.environ["SIGIL_CACERT"]
s.headers["X-Vault-Token"] = os.environ["SIGIL_TOKEN"]
round_ = sys.argv[1] if len(sys.argv) > 1 else "0"
for i in range(100000):
    key = f"k{round_}-{i}"
    try:
        r = s.post(addr + key, json={"data": {"v": f"plaintext-marker-{key}"}}, timeout=10, verify=CA)
    except Exception as e:
        print(f"stopped at {key}: {e}", file=sys.stderr)
        break
    if r.status_code != 200:
        print(f"stopped at {key}: {r.status_code} {r.text[:200]}", file=sys.stderr)
        break
    print(key, flush=True)
sys.exit(0)
