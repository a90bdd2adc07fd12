"""Bad input to the transit secrets engine: each case pins the exact HTTP status and the
error text OpenBao gives (a substring of its message), and after each case every key reads
exactly as before.

Runs against Sigil and against a real OpenBao dev server. Reads SIGIL_ADDR, SIGIL_TOKEN and
SIGIL_CACERT (empty: plain HTTP). Exits non-zero with the failing check's message on the
first failure; prints OK at the end."""

import base64
import json
import os

import requests

ADDR = os.environ["SIGIL_ADDR"].rstrip("/")
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
MOUNT = "transit-bad"


def section(name):
    print(f"-- {name}", flush=True)


def b64(data):
    return base64.b64encode(data).decode()


def call(method, path, body=None):
    """One request; returns (status, parsed JSON body or None)."""
    resp = requests.request(
        method,
        f"{ADDR}/v1/{path}",
        headers={"X-Vault-Token": ROOT},
        json=body,
        verify=CA,
        timeout=60,
    )
    try:
        parsed = resp.json() if resp.content else None
    except ValueError:
        raise AssertionError(f"{method} {path}: non-JSON body {resp.text!r}") from None
    return resp.status_code, parsed


def ok(method, path, body=None):
    status, out = call(method, path, body)
    assert status in (200, 204), f"{method} {path} {body}: {status} {out}"
    return out


def errors_of(out):
    assert isinstance(out, dict) and isinstance(out.get("errors"), list), out
    return "\n".join(out["errors"])


KEYS = ["aes", "ed", "ec", "rsa", "mac", "rot", "der", "ed-der", "edx", "trimk"]


def snapshot():
    return {k: ok("GET", f"{MOUNT}/keys/{k}")["data"] for k in KEYS}


section("setup")
ok("POST", f"sys/mounts/{MOUNT}", {"type": "transit"})
ok("POST", f"{MOUNT}/keys/aes", {"type": "aes256-gcm96"})
ok("POST", f"{MOUNT}/keys/ed", {"type": "ed25519"})
ok("POST", f"{MOUNT}/keys/ec", {"type": "ecdsa-p256"})
ok("POST", f"{MOUNT}/keys/rsa", {"type": "rsa-2048"})
ok("POST", f"{MOUNT}/keys/mac", {"type": "hmac", "key_size": 32})
ok("POST", f"{MOUNT}/keys/rot", {"type": "aes256-gcm96"})
ok("POST", f"{MOUNT}/keys/der", {"type": "aes256-gcm96", "derived": True})
ok("POST", f"{MOUNT}/keys/ed-der", {"type": "ed25519", "derived": True})
ok("POST", f"{MOUNT}/keys/edx", {"type": "ed25519", "exportable": True})
ok("POST", f"{MOUNT}/keys/trimk", {"type": "aes256-gcm96"})
ok("POST", f"{MOUNT}/keys/trimk/rotate")
ok("POST", f"{MOUNT}/keys/trimk/config", {"min_decryption_version": 2, "min_encryption_version": 2})
plain = b64(b"hello transit")
ct = ok("POST", f"{MOUNT}/encrypt/aes", {"plaintext": plain})["data"]["ciphertext"]
der_ct = ok("POST", f"{MOUNT}/encrypt/der", {"plaintext": plain, "context": b64(b"c")})
der_ct = der_ct["data"]["ciphertext"]
body = ct[len("vault:v1:") :]
raw = bytearray(base64.b64decode(body))
raw[len(raw) // 2] ^= 0x01
tampered = "vault:v1:" + b64(bytes(raw))
rot_v1 = ok("POST", f"{MOUNT}/encrypt/rot", {"plaintext": plain})["data"]["ciphertext"]
ok("POST", f"{MOUNT}/keys/rot/rotate")
ok("POST", f"{MOUNT}/keys/rot/config", {"min_decryption_version": 2})
ed_sig = ok("POST", f"{MOUNT}/sign/ed", {"input": plain})["data"]["signature"]
before = snapshot()

# (what, method, path, body, status, substring of OpenBao's error)
T = f"{MOUNT}"
CASES = [
    # Encrypt.
    ("plaintext not base64", "POST", f"{T}/encrypt/aes", {"plaintext": "not base64!"}, 400,
     "illegal base64 data at input byte 3"),
    ("no plaintext", "POST", f"{T}/encrypt/aes", {}, 400, "missing plaintext to encrypt"),
    ("encrypt version above latest", "POST", f"{T}/encrypt/aes",
     {"plaintext": plain, "key_version": 2}, 400,
     "requested version for encryption is higher than the latest key version"),
    ("associated data on RSA", "POST", f"{T}/encrypt/rsa",
     {"plaintext": plain, "associated_data": b64(b"x")}, 400,
     "'[0].associated_data' provided for non-AEAD cipher suite rsa-2048"),
    ("derived key without context", "POST", f"{T}/encrypt/der", {"plaintext": plain}, 400,
     "missing 'context' for key derivation"),
    ("context not base64", "POST", f"{T}/encrypt/der", {"plaintext": plain, "context": "!!"},
     400, "illegal base64 data at input byte 0"),
    # Decrypt: the ciphertext's framing.
    ("ciphertext not base64, no prefix", "POST", f"{T}/decrypt/aes",
     {"ciphertext": "not base64!"}, 400, "invalid ciphertext: no prefix"),
    ("missing vault: prefix", "POST", f"{T}/decrypt/aes", {"ciphertext": ct[len("vault:"):]},
     400, "invalid ciphertext: no prefix"),
    ("bare base64", "POST", f"{T}/decrypt/aes", {"ciphertext": body}, 400,
     "invalid ciphertext: no prefix"),
    ("no version separator", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v1"}, 400,
     "invalid ciphertext: wrong number of fields"),
    ("vault:vX:", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:vX:" + body}, 400,
     "invalid ciphertext: version number could not be decoded"),
    ("version above latest", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v2:" + body},
     400, "invalid ciphertext: version is too new"),
    ("below min_decryption_version", "POST", f"{T}/decrypt/rot", {"ciphertext": rot_v1}, 400,
     "ciphertext or signature version is disallowed by policy (too old)"),
    ("negative version", "POST", f"{T}/decrypt/rot",
     {"ciphertext": "vault:v-1:" + rot_v1[9:]}, 400,
     "ciphertext or signature version is disallowed by policy (too old)"),
    ("body not base64", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v1:!!!"}, 400,
     "invalid ciphertext: could not decode base64"),
    ("empty body", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v1:"}, 400,
     "invalid ciphertext length"),
    ("body shorter than a nonce", "POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v1:AAAA"},
     400, "invalid ciphertext length"),
    ("tampered ciphertext", "POST", f"{T}/decrypt/aes", {"ciphertext": tampered}, 400,
     "message authentication failed"),
    ("wrong associated data", "POST", f"{T}/decrypt/aes",
     {"ciphertext": ct, "associated_data": b64(b"other")}, 400,
     "message authentication failed"),
    ("no ciphertext", "POST", f"{T}/decrypt/aes", {}, 400, "missing ciphertext to decrypt"),
    ("derived decrypt without context", "POST", f"{T}/decrypt/der", {"ciphertext": der_ct},
     400, "missing 'context' for key derivation"),
    ("derived decrypt with another context", "POST", f"{T}/decrypt/der",
     {"ciphertext": der_ct, "context": b64(b"d")}, 400, "message authentication failed"),
    ("rewrap without prefix", "POST", f"{T}/rewrap/aes", {"ciphertext": "nope"}, 400,
     "invalid ciphertext: no prefix"),
    # Unknown keys.
    ("decrypt with unknown key", "POST", f"{T}/decrypt/nokey", {"ciphertext": ct}, 400,
     "encryption key not found"),
    ("sign with unknown key", "POST", f"{T}/sign/nokey", {"input": plain}, 400,
     "signing key not found"),
    ("hmac with unknown key", "POST", f"{T}/hmac/nokey", {"input": plain}, 400,
     "encryption key not found"),
    ("read unknown key", "GET", f"{T}/keys/nokey", None, 404, None),
    ("rotate unknown key", "POST", f"{T}/keys/nokey/rotate", None, 400, "key not found"),
    ("delete unknown key", "DELETE", f"{T}/keys/nokey", None, 400,
     "error deleting policy nokey: could not delete key; not found"),
    ("export unknown key", "GET", f"{T}/export/encryption-key/nokey", None, 404, None),
    # Operations a key type does not support.
    ("encrypt with ed25519", "POST", f"{T}/encrypt/ed", {"plaintext": plain}, 400,
     "message encryption not supported for key type ed25519"),
    ("encrypt with ecdsa", "POST", f"{T}/encrypt/ec", {"plaintext": plain}, 400,
     "message encryption not supported for key type ecdsa-p256"),
    ("encrypt with hmac", "POST", f"{T}/encrypt/mac", {"plaintext": plain}, 400,
     "message encryption not supported for key type hmac"),
    ("decrypt with ed25519", "POST", f"{T}/decrypt/ed", {"ciphertext": ct}, 400,
     "message decryption not supported for key type ed25519"),
    ("datakey with ed25519", "POST", f"{T}/datakey/plaintext/ed", {}, 400,
     "message encryption not supported for key type ed25519"),
    ("sign with aes", "POST", f"{T}/sign/aes", {"input": plain}, 400,
     "key type aes256-gcm96 does not support signing"),
    ("sign with hmac", "POST", f"{T}/sign/mac", {"input": plain}, 400,
     "key type hmac does not support signing"),
    ("verify with aes", "POST", f"{T}/verify/aes",
     {"input": plain, "signature": "vault:v1:AAAA"}, 400,
     "key type aes256-gcm96 does not support verification"),
    # Signatures and HMACs.
    ("sign input not base64", "POST", f"{T}/sign/ed", {"input": "!!"}, 400,
     "unable to decode input as base64: illegal base64 data at input byte 0"),
    ("signature without prefix", "POST", f"{T}/verify/ed",
     {"input": plain, "signature": ed_sig[len("vault:v1:"):]}, 400,
     "invalid signature: no prefix"),
    ("signature version above latest", "POST", f"{T}/verify/ed",
     {"input": plain, "signature": "vault:v9:" + ed_sig[9:]}, 400,
     "invalid signature: version is too new"),
    ("unknown hash algorithm", "POST", f"{T}/sign/ec", {"input": plain, "hash_algorithm": "md5"},
     400, 'invalid hash algorithm "md5"'),
    ("unknown marshaling", "POST", f"{T}/sign/ec",
     {"input": plain, "marshaling_algorithm": "xml"}, 400, 'invalid marshaling type "xml"'),
    # OpenBao answers 500 here: the RSA layer's error is not marked as the caller's.
    ("unknown RSA padding", "POST", f"{T}/sign/rsa", {"input": plain, "signature_algorithm": "foo"},
     500, "unsupported rsa signature algorithm foo"),
    ("hmac input not base64", "POST", f"{T}/hmac/aes", {"input": "!!"}, 400,
     "unable to decode input as base64: illegal base64 data at input byte 0"),
    ("hmac version above latest", "POST", f"{T}/hmac/aes", {"input": plain, "key_version": 5},
     400, "key version does not exist; latest key version is 1"),
    ("verify with neither signature nor hmac", "POST", f"{T}/verify/ed", {"input": plain}, 400,
     "neither a 'signature' nor an 'hmac' were given to verify"),
    # OpenBao answers 500: the derivation error is wrapped, not marked as the caller's.
    ("derived ed25519 without context", "POST", f"{T}/sign/ed-der", {"input": plain}, 500,
     "error deriving key: missing 'context' for key derivation"),
    ("hmac without prefix", "POST", f"{T}/verify/aes", {"input": plain, "hmac": "AAAA"}, 400,
     "invalid HMAC to verify: no prefix"),
    # Key management.
    ("unknown key type", "POST", f"{T}/keys/bad", {"type": "aes512"}, 400,
     "unknown key type aes512"),
    ("convergent without derived", "POST", f"{T}/keys/cv", {"convergent_encryption": True},
     400, "convergent encryption requires derivation to be enabled"),
    ("hmac key without size", "POST", f"{T}/keys/mac2", {"type": "hmac"}, 500,
     "invalid key size for HMAC key, must be between 32 and 512 bytes"),
    ("hmac key too small", "POST", f"{T}/keys/mac3", {"type": "hmac", "key_size": 16}, 400,
     "invalid key_size 16"),
    ("hmac key too large", "POST", f"{T}/keys/mac3", {"type": "hmac", "key_size": 1024}, 400,
     "invalid key_size 1024"),
    ("delete not allowed", "DELETE", f"{T}/keys/aes", None, 400,
     "error deleting policy aes: deletion is not allowed for this key"),
    ("min_decryption_version above latest", "POST", f"{T}/keys/aes/config",
     {"min_decryption_version": 5}, 400,
     "cannot set min decryption version of 5, latest key version is 1"),
    ("min_encryption_version above latest", "POST", f"{T}/keys/aes/config",
     {"min_encryption_version": 5}, 400,
     "cannot set min encryption version of 5, latest key version is 1"),
    ("trim with min_encryption_version 0", "POST", f"{T}/keys/aes/trim",
     {"min_available_version": 1}, 400,
     "minimum available version cannot be set when minimum encryption version is not set"),
    ("min_encryption_version below min_decryption_version", "POST", f"{T}/keys/trimk/config",
     {"min_encryption_version": 1}, 400,
     "min encryption version of 1 must be greater than or equal to min decryption version of 2"),
    ("trim to zero", "POST", f"{T}/keys/trimk/trim", {"min_available_version": 0}, 400,
     "minimum available version should be positive"),
    # "minmum" is OpenBao's spelling.
    ("trim beyond min_encryption_version", "POST", f"{T}/keys/trimk/trim",
     {"min_available_version": 3}, 400,
     "minimum available version cannot be greater than minmum encryption version"),
    ("trim without a version", "POST", f"{T}/keys/trimk/trim", {}, 400,
     "missing min_available_version"),
    ("export not exportable", "GET", f"{T}/export/encryption-key/aes", None, 400,
     "private key material is not exportable"),
    ("export bad type", "GET", f"{T}/export/bogus-key/aes", None, 400,
     "invalid export type: bogus-key"),
    ("export encryption key of a signing key", "GET", f"{T}/export/encryption-key/edx", None,
     400, "encryption not supported for the key"),
    ("export public key of a symmetric key", "GET", f"{T}/export/public-key/aes", None, 500,
     "unknown key type aes256-gcm96 for export type public-key"),
    # Backup and restore refusals are 500 in OpenBao.
    ("backup not exportable", "GET", f"{T}/backup/aes", None, 500,
     "exporting is disallowed on the policy"),
    ("backup unknown key", "GET", f"{T}/backup/nokey", None, 500, 'key "nokey" not found'),
    ("restore not base64", "POST", f"{T}/restore", {"backup": "!!"}, 500,
     "illegal base64 data at input byte 0"),
    ("restore without backup", "POST", f"{T}/restore", {}, 400, "'backup' must be supplied"),
    # Data keys, hash, random.
    ("datakey bad type", "POST", f"{T}/datakey/bogus/aes", {}, 400,
     "Invalid path, must be 'plaintext' or 'wrapped'"),
    ("datakey bad bits", "POST", f"{T}/datakey/plaintext/aes", {"bits": 100}, 400,
     "invalid bit length"),
    ("hash unknown algorithm", "POST", f"{T}/hash", {"input": plain, "algorithm": "md5"}, 400,
     "unsupported algorithm md5"),
    ("hash unknown format", "POST", f"{T}/hash", {"input": plain, "format": "bin"}, 400,
     'unsupported encoding format bin; must be "hex" or "base64"'),
    ("hash input not base64", "POST", f"{T}/hash", {"input": "!!"}, 400,
     "unable to decode input as base64: illegal base64 data at input byte 0"),
    ("random zero bytes", "POST", f"{T}/random", {"bytes": 0}, 400,
     "'bytes' cannot be less than 1"),
    ("random too many bytes", "POST", f"{T}/random/200000", {}, 400,
     "'bytes' should be less than 131072"),
    ("random unknown source", "POST", f"{T}/random/bogus/8", {}, 400,
     'unsupported entropy source "bogus"; must be "platform" or "seal", or "all"'),
    ("random unknown format", "POST", f"{T}/random", {"format": "bin"}, 400,
     'unsupported encoding format "bin"; must be "hex" or "base64"'),
    # Batches.
    ("empty batch", "POST", f"{T}/encrypt/aes", {"batch_input": []}, 400,
     "missing batch input to process"),
]

section(f"{len(CASES)} bad requests")
for what, method, path, req, status, text in CASES:
    got, out = call(method, path, req)
    assert got == status, f"{what}: {method} {path} {req}: status {got}, want {status}: {out}"
    if text is None:
        # A missing entry: OpenBao's empty error list.
        assert out == {"errors": []}, f"{what}: {out}"
    else:
        msg = errors_of(out)
        assert text in msg, f"{what}: want {text!r} in {msg!r}"
    after = snapshot()
    assert after == before, f"{what} changed a key:\n{json.dumps(before)}\n{json.dumps(after)}"
# Nothing a bad request did created a key.
listed = ok("LIST", f"{MOUNT}/keys")["data"]["keys"]
assert sorted(listed) == sorted(KEYS), listed

section("tolerated odd input")
# Version 0 is read as version 1 (compatibility with keys that once started at zero).
out = ok("POST", f"{T}/decrypt/aes", {"ciphertext": "vault:v0:" + body})
assert out["data"]["plaintext"] == plain, out
# A well-framed but wrong signature or HMAC is not an error: it verifies false.
out = ok("POST", f"{T}/verify/ed", {"input": plain, "signature": "vault:v1:AAAA"})
assert out["data"]["valid"] is False, out
out = ok("POST", f"{T}/verify/aes", {"input": plain, "hmac": "vault:v1:AAAA"})
assert out["data"]["valid"] is False, out
assert snapshot() == before

section("batches with bad items")
# One bad item: 400, results in input order, references echoed, the good items done.
items = [
    {"plaintext": plain, "reference": "a"},
    {"plaintext": "!!", "reference": "b"},
    {"plaintext": plain},
]
status, out = call("POST", f"{T}/encrypt/aes", {"batch_input": items})
assert status == 400, (status, out)
assert "errors" not in out, f"a partial failure carries no top-level errors: {out}"
res = out["data"]["batch_results"]
assert [r["reference"] for r in res] == ["a", "b", ""], res
assert res[0]["ciphertext"].startswith("vault:v1:") and res[0]["key_version"] == 1, res
assert res[1] == {"error": "illegal base64 data at input byte 0", "reference": "b"}, res
assert res[2]["ciphertext"].startswith("vault:v1:"), res
# Every item bad: still 400 with per-item errors.
status, out = call("POST", f"{T}/encrypt/aes", {"batch_input": [{"plaintext": "!!"}] * 2})
assert status == 400, (status, out)
assert [r["error"] for r in out["data"]["batch_results"]] == ["illegal base64 data at input byte 0"] * 2, out
# partial_failure_response_code is honoured.
status, out = call(
    "POST", f"{T}/encrypt/aes", {"batch_input": items, "partial_failure_response_code": 207}
)
assert status == 207, (status, out)
assert "error" in out["data"]["batch_results"][1], out
# Decrypt: each failing item names its own reason.
dec = [
    {"ciphertext": ct, "reference": "ok"},
    {"ciphertext": "nope", "reference": "no-prefix"},
    {"ciphertext": "vault:v7:" + body, "reference": "too-new"},
    {"ciphertext": tampered, "reference": "tampered"},
]
status, out = call("POST", f"{T}/decrypt/aes", {"batch_input": dec})
assert status == 400, (status, out)
res = out["data"]["batch_results"]
assert [r["reference"] for r in res] == ["ok", "no-prefix", "too-new", "tampered"], res
assert res[0]["plaintext"] == plain and not res[0].get("error"), res
assert res[1]["error"] == "invalid ciphertext: no prefix", res
assert res[2]["error"] == "invalid ciphertext: version is too new", res
assert "message authentication failed" in res[3]["error"], res
# Only encrypt and decrypt answer a failed item with 400: sign, verify, hmac and rewrap
# batches answer 200 with the error in the item.
sig_batch = [{"input": plain, "reference": "good"}, {"input": "!!", "reference": "bad"}]
status, out = call("POST", f"{T}/sign/ed", {"batch_input": sig_batch})
assert status == 200, (status, out)
res = out["data"]["batch_results"]
assert [r["reference"] for r in res] == ["good", "bad"] and res[0]["signature"], res
assert res[1]["error"] == "unable to decode input as base64: illegal base64 data at input byte 0", res
assert not res[1].get("signature"), res
status, out = call("POST", f"{T}/hmac/aes", {"batch_input": sig_batch})
assert status == 200, (status, out)
res = out["data"]["batch_results"]
assert res[0]["hmac"].startswith("vault:v1:") and res[1]["reference"] == "bad", res
assert res[1]["error"] == "unable to decode input as base64: illegal base64 data at input byte 0", res
status, out = call(
    "POST",
    f"{T}/verify/ed",
    {"batch_input": [
        {"input": plain, "signature": ed_sig, "reference": "good"},
        {"input": plain, "signature": "nope", "reference": "bad"},
    ]},
)
assert status == 200, (status, out)
res = out["data"]["batch_results"]
assert res[0]["valid"] is True and res[1]["valid"] is False, res
assert res[1]["error"] == "invalid signature: no prefix", res
status, out = call(
    "POST",
    f"{T}/rewrap/aes",
    {"batch_input": [{"ciphertext": ct, "reference": "good"}, {"ciphertext": "nope", "reference": "bad"}]},
)
assert status == 200, (status, out)
res = out["data"]["batch_results"]
assert res[0]["ciphertext"].startswith("vault:v1:") and res[1]["reference"] == "bad", res
assert res[1]["error"] == "invalid ciphertext: no prefix", res
assert snapshot() == before

print("OK")
