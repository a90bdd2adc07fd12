"""hvac, unmodified, against the transit secrets engine: keys of every type, encryption with
associated data, derived and convergent keys, versions (rotate, rewrap, minimum versions,
trim), deletion, data keys, signatures, HMACs, hashes, random bytes, export, backup and
restore, and batches with a bad item.

The same script runs against Sigil and against a real OpenBao dev server, so every check
encodes what OpenBao does. Where Vault's documentation allows more than one answer (a key
create that answers 200 with the key or 204 with no body) the check accepts each documented
answer; those places are marked "documented alternatives".

Reads SIGIL_ADDR, SIGIL_TOKEN and SIGIL_CACERT (empty: plain HTTP). Exits non-zero with the
failing check's message on the first failure; prints OK at the end."""

import base64
import hashlib
import hmac as stdlib_hmac
import os

import hvac
import requests
from hvac import exceptions as exc

ADDR = os.environ["SIGIL_ADDR"]
ROOT = os.environ["SIGIL_TOKEN"]
CA = os.environ.get("SIGIL_CACERT") or True
MOUNT = "transit"

SYMMETRIC = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]
RSA = ["rsa-2048", "rsa-3072", "rsa-4096"]
ECDSA = ["ecdsa-p256", "ecdsa-p384"]
SIGNING = ["ed25519", *ECDSA, *RSA]
ENCRYPTING = [*SYMMETRIC, *RSA]
ALL_TYPES = [*SYMMETRIC, *SIGNING, "hmac"]

# What a key of each type reports it supports: (encryption, decryption, derivation, signing).
SUPPORTS = {
    "aes128-gcm96": (True, True, True, False),
    "aes256-gcm96": (True, True, True, False),
    "chacha20-poly1305": (True, True, True, False),
    "ed25519": (False, False, True, True),
    "ecdsa-p256": (False, False, False, True),
    "ecdsa-p384": (False, False, False, True),
    "rsa-2048": (True, True, False, True),
    "rsa-3072": (True, True, False, True),
    "rsa-4096": (True, True, False, True),
    "hmac": (False, False, False, False),
}


def section(name):
    print(f"-- {name}", flush=True)


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def raises(kind, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as e:
        return e
    raise AssertionError(f"{fn.__name__}{args} did not raise {kind.__name__}")


root = hvac.Client(url=ADDR, token=ROOT, verify=CA)
transit = root.secrets.transit
http = root.adapter


def post(path, body):
    """A write through hvac's adapter, for parameters hvac's helpers do not pass."""
    resp = http.post(f"/v1/{MOUNT}/{path}", json=body)
    return resp if isinstance(resp, dict) else {}


def get(path):
    return http.get(f"/v1/{MOUNT}/{path}")


def create(name, key_type, **flags):
    """Creates a key. hvac's create_key only knows some types, so aes128-gcm96 and hmac
    go through the adapter with the same body hvac would send."""
    body = {"type": key_type, **flags}
    if key_type == "hmac":
        # OpenBao refuses an hmac key without key_size (500: "invalid key size for HMAC
        # key, must be between 32 and 512 bytes").
        body.setdefault("key_size", 32)
    resp = http.post(f"/v1/{MOUNT}/keys/{name}", json=body)
    # Documented alternatives: 204 with no body (older Vault) or 200 with the key.
    if isinstance(resp, dict):
        assert resp["data"]["name"] == name and resp["data"]["type"] == key_type, resp
    return resp


def read(name):
    return transit.read_key(name, mount_point=MOUNT)["data"]


def encrypt(name, plaintext, **kw):
    return transit.encrypt_data(name, plaintext=b64(plaintext), mount_point=MOUNT, **kw)["data"]


def decrypt(name, ciphertext, **kw):
    out = transit.decrypt_data(name, ciphertext=ciphertext, mount_point=MOUNT, **kw)["data"]
    return unb64(out["plaintext"])


section("mount")
root.sys.enable_secrets_engine("transit", path=MOUNT)
mounts = root.sys.list_mounted_secrets_engines()["data"]
assert mounts[f"{MOUNT}/"]["type"] == "transit", mounts[f"{MOUNT}/"]

section("keys of every type")
for t in ALL_TYPES:
    create(f"k-{t}", t)
for t in ALL_TYPES:
    k = read(f"k-{t}")
    assert k["name"] == f"k-{t}" and k["type"] == t, k
    assert k["latest_version"] == 1, k
    assert k["min_decryption_version"] == 1 and k["min_encryption_version"] == 0, k
    assert k["min_available_version"] == 0, k
    assert k["deletion_allowed"] is False and k["derived"] is False, k
    assert k["exportable"] is False and k["allow_plaintext_backup"] is False, k
    got = (
        k["supports_encryption"],
        k["supports_decryption"],
        k["supports_derivation"],
        k["supports_signing"],
    )
    assert got == SUPPORTS[t], f"{t}: supports (enc, dec, derive, sign) = {got}"
    if t == "hmac":
        # An hmac key hides its versions and shows its size instead.
        assert "keys" not in k and k["key_size"] == 32, k
    elif t in SIGNING:
        v1 = k["keys"]["1"]
        assert v1["public_key"] and v1["creation_time"], k
        # The version's own name is the curve or algorithm; no certificate chain yet.
        curve = {"ecdsa-p256": "P-256", "ecdsa-p384": "P-384"}.get(t, t)
        assert v1["name"] == curve and v1.get("certificate_chain") == "", v1
        if t == "ed25519":
            assert len(unb64(v1["public_key"])) == 32, v1
        else:
            assert v1["public_key"].startswith("-----BEGIN PUBLIC KEY-----"), v1
    else:
        assert isinstance(k["keys"]["1"], int) and k["keys"]["1"] > 0, k
listed = transit.list_keys(mount_point=MOUNT)["data"]["keys"]
assert sorted(listed) == sorted(f"k-{t}" for t in ALL_TYPES), listed
# Creating a key that exists changes nothing (not even its type).
create_again = http.post(f"/v1/{MOUNT}/keys/k-ed25519", json={"type": "aes256-gcm96"})
assert read("k-ed25519")["type"] == "ed25519"
if isinstance(create_again, dict):
    assert create_again["data"]["type"] == "ed25519", create_again
raises(exc.InvalidPath, transit.read_key, "nonesuch", mount_point=MOUNT)
# The default type is aes256-gcm96.
transit.create_key("k-default", mount_point=MOUNT)
assert read("k-default")["type"] == "aes256-gcm96"

section("encrypt and decrypt")
message = b"attack at dawn \x00\xff"
for t in ENCRYPTING:
    name = f"k-{t}"
    out = encrypt(name, message)
    assert out["ciphertext"].startswith("vault:v1:") and out["key_version"] == 1, (t, out)
    assert decrypt(name, out["ciphertext"]) == message, t
    assert encrypt(name, message)["ciphertext"] != out["ciphertext"], f"{t}: nonce reused"
    body = unb64(out["ciphertext"][len("vault:v1:") :])
    if t in SYMMETRIC:
        # nonce (12) || ciphertext || tag (16)
        assert len(body) == 12 + len(message) + 16, (t, len(body))
    else:
        assert len(body) == int(t.split("-")[1]) // 8, (t, len(body))
    assert decrypt(name, encrypt(name, b"")["ciphertext"]) == b"", f"{t}: empty plaintext"
for t in SYMMETRIC:
    name = f"k-{t}"
    aad = b64(b"header v1")
    ct = encrypt(name, message, associated_data=aad)["ciphertext"]
    assert decrypt(name, ct, associated_data=aad) == message, t
    raises(exc.InvalidRequest, decrypt, name, ct, associated_data=b64(b"header v2"))
    raises(exc.InvalidRequest, decrypt, name, ct)
# Associated data is refused by RSA (not an AEAD).
e = raises(exc.InvalidRequest, encrypt, "k-rsa-2048", message, associated_data=b64(b"x"))
assert "provided for non-AEAD cipher suite" in str(e), e
# A ciphertext of one key does not decrypt under another.
ct = encrypt("k-aes256-gcm96", message)["ciphertext"]
raises(exc.InvalidRequest, decrypt, "k-default", ct)

section("derived and convergent keys")
create("derived", "aes256-gcm96", derived=True)
k = read("derived")
assert k["derived"] is True and k["kdf"] == "hkdf_sha256", k
assert k["convergent_encryption"] is False, k
ctx_a, ctx_b = b64(b"tenant-a"), b64(b"tenant-b")
raises(exc.InvalidRequest, encrypt, "derived", message)
ct_a = encrypt("derived", message, context=ctx_a)["ciphertext"]
assert decrypt("derived", ct_a, context=ctx_a) == message
raises(exc.InvalidRequest, decrypt, "derived", ct_a, context=ctx_b)
raises(exc.InvalidRequest, decrypt, "derived", ct_a)
assert encrypt("derived", message, context=ctx_a)["ciphertext"] != ct_a
for t in SYMMETRIC:
    name = f"conv-{t}"
    create(name, t, derived=True, convergent_encryption=True)
    k = read(name)
    # OpenBao reports -1: the convergent scheme is recorded per key version (v3 nonces).
    assert k["convergent_encryption"] is True, k
    assert k["convergent_encryption_version"] == -1, k
    one = encrypt(name, message, context=ctx_a)["ciphertext"]
    two = encrypt(name, message, context=ctx_a)["ciphertext"]
    assert one == two, f"{t}: convergent encryption gave two ciphertexts"
    assert encrypt(name, message, context=ctx_b)["ciphertext"] != one, t
    assert encrypt(name, message + b"!", context=ctx_a)["ciphertext"] != one, t
    assert decrypt(name, one, context=ctx_a) == message, t
e = raises(exc.InvalidRequest, create, "conv-bad", "aes256-gcm96", convergent_encryption=True)
assert "convergent encryption requires derivation to be enabled" in str(e), e

section("rotate, key_version, rewrap, minimum versions, trim")
create("rot", "aes256-gcm96")
ct1 = encrypt("rot", b"one")["ciphertext"]
transit.rotate_key("rot", mount_point=MOUNT)
transit.rotate_key("rot", mount_point=MOUNT)
k = read("rot")
assert k["latest_version"] == 3 and sorted(k["keys"]) == ["1", "2", "3"], k
out = encrypt("rot", b"three")
assert out["ciphertext"].startswith("vault:v3:") and out["key_version"] == 3, out
ct2 = encrypt("rot", b"two", key_version=2)["ciphertext"]
assert ct2.startswith("vault:v2:"), ct2
assert decrypt("rot", ct1) == b"one" and decrypt("rot", ct2) == b"two"
rw = transit.rewrap_data("rot", ciphertext=ct1, mount_point=MOUNT)["data"]
assert rw["ciphertext"].startswith("vault:v3:") and rw["key_version"] == 3, rw
assert "plaintext" not in rw and decrypt("rot", rw["ciphertext"]) == b"one"
rw2 = transit.rewrap_data("rot", ciphertext=ct1, key_version=2, mount_point=MOUNT)["data"]
assert rw2["ciphertext"].startswith("vault:v2:"), rw2
raises(exc.InvalidRequest, encrypt, "rot", b"x", key_version=4)
transit.update_key_configuration("rot", min_decryption_version=2, mount_point=MOUNT)
k = read("rot")
# The read lists only the versions that may still decrypt.
assert k["min_decryption_version"] == 2 and sorted(k["keys"]) == ["2", "3"], k
e = raises(exc.InvalidRequest, decrypt, "rot", ct1)
assert "ciphertext or signature version is disallowed by policy (too old)" in str(e), e
assert decrypt("rot", ct2) == b"two"
raises(exc.InvalidRequest, transit.rewrap_data, "rot", ciphertext=ct1, mount_point=MOUNT)
transit.update_key_configuration("rot", min_encryption_version=3, mount_point=MOUNT)
assert read("rot")["min_encryption_version"] == 3
e = raises(exc.InvalidRequest, encrypt, "rot", b"x", key_version=2)
assert "requested version for encryption is less than the minimum encryption key version" in str(e), e
assert encrypt("rot", b"x")["key_version"] == 3
# min_encryption_version may not be below min_decryption_version.
raises(
    exc.InvalidRequest,
    transit.update_key_configuration,
    "rot",
    min_encryption_version=1,
    mount_point=MOUNT,
)
transit.trim_key("rot", min_version=2, mount_point=MOUNT)
k = read("rot")
assert k["min_available_version"] == 2 and sorted(k["keys"]) == ["2", "3"], k
# Trimmed versions are gone: the minimum decryption version can no longer go below 2.
raises(
    exc.InvalidRequest,
    transit.update_key_configuration,
    "rot",
    min_decryption_version=1,
    mount_point=MOUNT,
)
# Trim beyond min_decryption_version is refused.
raises(exc.InvalidRequest, transit.trim_key, "rot", min_version=3, mount_point=MOUNT)
assert decrypt("rot", ct2) == b"two"

section("auto rotation period")
transit.update_key_configuration("rot", auto_rotate_period="1h", mount_point=MOUNT)
assert read("rot")["auto_rotate_period"] == 3600
e = raises(
    exc.InvalidRequest,
    transit.update_key_configuration,
    "rot",
    auto_rotate_period="10m",
    mount_point=MOUNT,
)
assert "auto rotate period must be 0 to disable or at least an hour" in str(e), e
transit.update_key_configuration("rot", auto_rotate_period="0", mount_point=MOUNT)
assert read("rot")["auto_rotate_period"] == 0

section("upsert on encrypt")
# Encrypting to a missing key creates it (the caller may create): aes256-gcm96 by default,
# derived when a context is given, or the requested type.
out = encrypt("upserted", message)
assert out["key_version"] == 1 and read("upserted")["type"] == "aes256-gcm96"
encrypt("upserted-derived", message, context=ctx_a)
assert read("upserted-derived")["derived"] is True
encrypt("upserted-chacha", message, type="chacha20-poly1305")
assert read("upserted-chacha")["type"] == "chacha20-poly1305"
assert get("config/keys")["data"] == {"disable_upsert": False}
post("config/keys", {"disable_upsert": True})
assert get("config/keys")["data"] == {"disable_upsert": True}
e = raises(exc.InvalidRequest, encrypt, "not-upserted", message)
assert "encryption key not found" in str(e), e
post("config/keys", {"disable_upsert": False})

section("delete")
e = raises(exc.InvalidRequest, transit.delete_key, "rot", mount_point=MOUNT)
assert "deletion is not allowed for this key" in str(e), e
assert read("rot")["latest_version"] == 3
transit.update_key_configuration("rot", deletion_allowed=True, mount_point=MOUNT)
assert read("rot")["deletion_allowed"] is True
transit.delete_key("rot", mount_point=MOUNT)
raises(exc.InvalidPath, transit.read_key, "rot", mount_point=MOUNT)
assert "rot" not in transit.list_keys(mount_point=MOUNT)["data"]["keys"]

section("data keys")
for t in SYMMETRIC:
    name = f"k-{t}"
    dk = transit.generate_data_key(name, key_type="plaintext", mount_point=MOUNT)["data"]
    plain = unb64(dk["plaintext"])
    assert len(plain) == 32 and dk["ciphertext"].startswith("vault:v1:"), dk
    assert dk["key_version"] == 1, dk
    assert decrypt(name, dk["ciphertext"]) == plain, t
    wrapped = transit.generate_data_key(name, key_type="wrapped", mount_point=MOUNT)["data"]
    assert "plaintext" not in wrapped or wrapped["plaintext"] is None, wrapped
    assert len(decrypt(name, wrapped["ciphertext"])) == 32, t
for bits in (128, 512):
    dk = transit.generate_data_key(
        "k-aes256-gcm96", key_type="plaintext", bits=bits, mount_point=MOUNT
    )["data"]
    assert len(unb64(dk["plaintext"])) == bits // 8, (bits, dk)
    assert decrypt("k-aes256-gcm96", dk["ciphertext"]) == unb64(dk["plaintext"])
dk = transit.generate_data_key(
    "derived", key_type="wrapped", context=ctx_a, mount_point=MOUNT
)["data"]
assert len(decrypt("derived", dk["ciphertext"], context=ctx_a)) == 32

section("sign and verify")
data = b64(b"signed message")
other = b64(b"another message")


def sign(name, **kw):
    return transit.sign_data(name, hash_input=kw.pop("input", data), mount_point=MOUNT, **kw)["data"]


def verify(name, signature, **kw):
    out = transit.verify_signed_data(
        name, hash_input=kw.pop("input", data), signature=signature, mount_point=MOUNT, **kw
    )
    return out["data"]["valid"]


def tamper(signature, urlsafe=False):
    """Flips the low bit of a signature's last byte, keeping its prefix and encoding (JWS
    signatures are URL-safe base64 without padding). The last byte is always value, never
    DER framing, so the result still parses and must verify false."""
    prefix, _, body = signature.rpartition(":")
    if urlsafe:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    else:
        raw = unb64(body)
    raw = bytearray(raw)
    raw[-1] ^= 0x01
    if urlsafe:
        text = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    else:
        text = b64(bytes(raw))
    return f"{prefix}:{text}"


sig = sign("k-ed25519")
assert sig["signature"].startswith("vault:v1:") and sig["key_version"] == 1, sig
assert len(unb64(sig["signature"][9:])) == 64, sig
assert verify("k-ed25519", sig["signature"])
assert not verify("k-ed25519", sig["signature"], input=other)
assert not verify("k-ed25519", tamper(sig["signature"]))
# Ed25519 is deterministic.
assert sign("k-ed25519")["signature"] == sig["signature"]

for t in ECDSA:
    name = f"k-{t}"
    for h in ("sha2-256", "sha2-384", "sha2-512"):
        for m in ("asn1", "jws"):
            s = sign(name, hash_algorithm=h, marshaling_algorithm=m)["signature"]
            assert s.startswith("vault:v1:"), s
            assert verify(name, s, hash_algorithm=h, marshaling_algorithm=m), (t, h, m)
            assert not verify(name, s, hash_algorithm=h, marshaling_algorithm=m, input=other)
            bad = tamper(s, urlsafe=m == "jws")
            assert not verify(name, bad, hash_algorithm=h, marshaling_algorithm=m), (t, h, m)
            if m == "jws":
                # JWS: raw r || s, URL-safe base64 without padding.
                raw = base64.urlsafe_b64decode(s[9:] + "=" * (-len(s[9:]) % 4))
                assert len(raw) == {"ecdsa-p256": 64, "ecdsa-p384": 96}[t], (t, len(raw))
                assert "=" not in s[9:] and "+" not in s[9:] and "/" not in s[9:], s
            else:
                assert unb64(s[9:])[0] == 0x30, f"{t}: not a DER SEQUENCE"
    # A hash-algorithm mismatch does not verify.
    s = sign(name, hash_algorithm="sha2-256")["signature"]
    assert not verify(name, s, hash_algorithm="sha2-512"), t
    # prehashed: the input is the digest itself.
    digest = b64(hashlib.sha256(b"signed message").digest())
    s = sign(name, input=digest, prehashed=True, hash_algorithm="sha2-256")["signature"]
    assert verify(name, s, input=digest, prehashed=True, hash_algorithm="sha2-256"), t
    assert verify(name, s, hash_algorithm="sha2-256"), f"{t}: prehashed differs from hashed"

for t in RSA:
    name = f"k-{t}"
    for h in ("sha2-256", "sha2-384", "sha2-512"):
        for a in ("pss", "pkcs1v15"):
            s = sign(name, hash_algorithm=h, signature_algorithm=a)["signature"]
            assert len(unb64(s[9:])) == int(t.split("-")[1]) // 8, (t, h, a)
            assert verify(name, s, hash_algorithm=h, signature_algorithm=a), (t, h, a)
            assert not verify(name, tamper(s), hash_algorithm=h, signature_algorithm=a), (t, h, a)
            assert not verify(name, s, hash_algorithm=h, signature_algorithm=a, input=other)
    s = sign(name, signature_algorithm="pkcs1v15")["signature"]
    # PKCS#1 v1.5 is deterministic; PSS is not.
    assert sign(name, signature_algorithm="pkcs1v15")["signature"] == s, t
    assert not verify(name, s, signature_algorithm="pss"), t
    digest = b64(hashlib.sha384(b"signed message").digest())
    s = sign(name, input=digest, prehashed=True, hash_algorithm="sha2-384", signature_algorithm="pkcs1v15")["signature"]
    assert verify(name, s, hash_algorithm="sha2-384", signature_algorithm="pkcs1v15"), t
# The default hash is sha2-256 and the default RSA padding is PSS.
s = sign("k-rsa-2048")["signature"]
assert verify("k-rsa-2048", s, hash_algorithm="sha2-256", signature_algorithm="pss")
# Keys that cannot sign refuse.
raises(exc.InvalidRequest, sign, "k-aes256-gcm96")
raises(exc.InvalidRequest, sign, "k-hmac")

# Signing versions: a rotated key signs with the latest, verifies the older.
create("sig-rot", "ecdsa-p256")
old = sign("sig-rot")["signature"]
transit.rotate_key("sig-rot", mount_point=MOUNT)
new = sign("sig-rot")
assert new["signature"].startswith("vault:v2:") and new["key_version"] == 2, new
assert verify("sig-rot", old) and verify("sig-rot", new["signature"])
assert sign("sig-rot", key_version=1)["signature"].startswith("vault:v1:")
assert sorted(read("sig-rot")["keys"]) == ["1", "2"]


def der_int(n):
    body = n.to_bytes((n.bit_length() + 8) // 8, "big")
    return bytes([0x02, len(body)]) + body


def jws_to_der(raw):
    """r || s to an ASN.1 DER SEQUENCE of two INTEGERs (short or one-byte long length)."""
    half = len(raw) // 2
    body = der_int(int.from_bytes(raw[:half], "big")) + der_int(int.from_bytes(raw[half:], "big"))
    length = bytes([len(body)]) if len(body) < 0x80 else bytes([0x81, len(body)])
    return b"\x30" + length + body


# A JWS signature is the same (r, s) as its DER form: re-encoded, it verifies as asn1.
for t in ECDSA:
    s = sign(f"k-{t}", marshaling_algorithm="jws")["signature"]
    raw = base64.urlsafe_b64decode(s[9:] + "=" * (-len(s[9:]) % 4))
    der = "vault:v1:" + b64(jws_to_der(raw))
    assert verify(f"k-{t}", der, marshaling_algorithm="asn1"), t
# The hash algorithm may be the last path segment of sign and verify.
s = post("sign/k-rsa-2048/sha2-512", {"input": data})["data"]["signature"]
assert post("verify/k-rsa-2048/sha2-512", {"input": data, "signature": s})["data"]["valid"]
assert not verify("k-rsa-2048", s), "a sha2-512 signature verified as sha2-256"
# Vault's other documented digests: SHA-224 and SHA-3 for ECDSA and both RSA paddings
# (through the adapter: hvac's sign_data only passes SHA-2 names).
for h in ("sha2-224", "sha3-224", "sha3-256", "sha3-384", "sha3-512"):
    s = post("sign/k-ecdsa-p384", {"input": data, "hash_algorithm": h})["data"]["signature"]
    ok = post("verify/k-ecdsa-p384", {"input": data, "signature": s, "hash_algorithm": h})
    assert ok["data"]["valid"] is True, h
    for a in ("pss", "pkcs1v15"):
        # Sigil signs RSA only over SHA-2/256, 384 and 512 digests (its RSA implementation,
        # aws-lc, offers no others): it refuses the rest with a 400 that says so, where
        # OpenBao signs.
        body = {"input": data, "hash_algorithm": h, "signature_algorithm": a}
        try:
            s = post("sign/k-rsa-2048", body)["data"]["signature"]
        except exc.InvalidRequest as e:
            assert "Sigil signs RSA with SHA-256, SHA-384 or SHA-512" in str(e), (h, a, e)
            continue
        ok = post("verify/k-rsa-2048", {**body, "signature": s})
        assert ok["data"]["valid"] is True, (h, a)
# hash_algorithm=none: PKCS#1 v1.5 over a caller's digest, without a DigestInfo prefix; it
# needs prehashed=true and pkcs1v15. OpenBao signs; Sigil refuses (no raw PKCS#1 v1.5 in
# aws-lc's safe API) with a 400 that says so.
raw_digest = b64(hashlib.sha256(b"signed message").digest())
none = {"input": raw_digest, "prehashed": True, "signature_algorithm": "pkcs1v15", "hash_algorithm": "none"}
try:
    s = post("sign/k-rsa-2048", none)["data"]["signature"]
except exc.InvalidRequest as e:
    assert "hash_algorithm=none (PKCS#1 v1.5 without a DigestInfo) is not supported by Sigil" in str(e), e
else:
    assert post("verify/k-rsa-2048", {**none, "signature": s})["data"]["valid"] is True
    assert not verify("k-rsa-2048", s, signature_algorithm="pkcs1v15"), "none matched a DigestInfo"
e = raises(exc.InvalidRequest, post, "sign/k-rsa-2048", {"input": data, "hash_algorithm": "none"})
assert "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15" in str(e), e
# PSS salt lengths.
for salt in ("auto", "hash", "20"):
    s = sign("k-rsa-2048", salt_length=salt)["signature"]
    assert verify("k-rsa-2048", s, salt_length=salt), salt
# Ed25519 signs the message itself: hash_algorithm and prehashed change nothing.
plain_sig = sign("k-ed25519")["signature"]
assert sign("k-ed25519", hash_algorithm="sha2-512")["signature"] == plain_sig
assert sign("k-ed25519", prehashed=True)["signature"] == plain_sig
# A derived ed25519 key signs per context and returns the derived public key.
create("ed-derived", "ed25519", derived=True)
d1 = sign("ed-derived", context=ctx_a)
d2 = sign("ed-derived", context=ctx_b)
assert d1["public_key"] != d2["public_key"] and len(unb64(d1["public_key"])) == 32, (d1, d2)
assert verify("ed-derived", d1["signature"], context=ctx_a)
assert not verify("ed-derived", d1["signature"], context=ctx_b)

section("hmac")
msg = b64(b"mac me")
for name in ("k-hmac", "k-aes256-gcm96", "k-ed25519"):
    mac = transit.generate_hmac(name, hash_input=msg, mount_point=MOUNT)["data"]
    # The hmac answer carries only the hmac (no key_version, unlike encrypt and sign).
    assert mac["hmac"].startswith("vault:v1:") and "key_version" not in mac, mac
    assert len(unb64(mac["hmac"][9:])) == 32, mac
    assert transit.generate_hmac(name, hash_input=msg, mount_point=MOUNT)["data"] == mac
    ok = transit.verify_signed_data(name, hash_input=msg, hmac=mac["hmac"], mount_point=MOUNT)
    assert ok["data"]["valid"] is True, ok
    bad = transit.verify_signed_data(name, hash_input=msg, hmac=tamper(mac["hmac"]), mount_point=MOUNT)
    assert bad["data"]["valid"] is False, bad
    bad = transit.verify_signed_data(name, hash_input=b64(b"x"), hmac=mac["hmac"], mount_point=MOUNT)
    assert bad["data"]["valid"] is False, bad
    m512 = transit.generate_hmac(name, hash_input=msg, algorithm="sha2-512", mount_point=MOUNT)["data"]
    assert len(unb64(m512["hmac"][9:])) == 64, m512
    ok = transit.verify_signed_data(
        name, hash_input=msg, hmac=m512["hmac"], hash_algorithm="sha2-512", mount_point=MOUNT
    )
    assert ok["data"]["valid"] is True, ok
    # The algorithm may also be the last path segment.
    path_mac = post(f"hmac/{name}/sha2-512", {"input": msg})["data"]
    assert path_mac["hmac"] == m512["hmac"], path_mac
# HMACs over SHA-224 and SHA-3 as well.
for alg, fn in (("sha2-224", hashlib.sha224), ("sha3-256", hashlib.sha3_256), ("sha3-512", hashlib.sha3_512)):
    got = post("hmac/k-hmac", {"input": msg, "algorithm": alg})
    assert len(unb64(got["data"]["hmac"][9:])) == fn().digest_size, (alg, got)
    ok = post("verify/k-hmac", {"input": msg, "hmac": got["data"]["hmac"], "algorithm": alg})
    assert ok["data"]["valid"] is True, (alg, ok)
# An hmac key of 64 bytes.
create("hmac-64", "hmac", key_size=64)
assert read("hmac-64")["key_size"] == 64
assert transit.generate_hmac("hmac-64", hash_input=msg, mount_point=MOUNT)["data"]["hmac"]

# The HMAC is plain HMAC over the input with the version's HMAC key.
create("mac-check", "hmac", exportable=True)
mac_key = unb64(transit.export_key("mac-check", "hmac-key", mount_point=MOUNT)["data"]["keys"]["1"])
got = transit.generate_hmac("mac-check", hash_input=msg, mount_point=MOUNT)["data"]["hmac"]
want = stdlib_hmac.new(mac_key, b"mac me", hashlib.sha256).digest()
assert got == "vault:v1:" + b64(want), (got, b64(want))
got = transit.generate_hmac("mac-check", hash_input=msg, algorithm="sha2-384", mount_point=MOUNT)
want = stdlib_hmac.new(mac_key, b"mac me", hashlib.sha384).digest()
assert got["data"]["hmac"] == "vault:v1:" + b64(want), got

section("hash")
for alg, fn in (
    ("sha2-224", hashlib.sha224),
    ("sha2-256", hashlib.sha256),
    ("sha2-384", hashlib.sha384),
    ("sha2-512", hashlib.sha512),
):
    out = transit.hash_data(hash_input=msg, algorithm=alg, output_format="base64", mount_point=MOUNT)
    assert unb64(out["data"]["sum"]) == fn(b"mac me").digest(), (alg, out)
    out = transit.hash_data(hash_input=msg, algorithm=alg, output_format="hex", mount_point=MOUNT)
    assert out["data"]["sum"] == fn(b"mac me").hexdigest(), (alg, out)
# The defaults are sha2-256 and hex (unlike random, whose default format is base64).
out = transit.hash_data(hash_input=msg, mount_point=MOUNT)["data"]
assert out["sum"] == hashlib.sha256(b"mac me").hexdigest(), out
out = post("hash/sha3-256", {"input": msg, "format": "hex"})["data"]
assert out["sum"] == hashlib.sha3_256(b"mac me").hexdigest(), out

section("random")
r = transit.generate_random_bytes(mount_point=MOUNT)["data"]
assert len(unb64(r["random_bytes"])) == 32, r
r = transit.generate_random_bytes(n_bytes=16, output_format="hex", mount_point=MOUNT)["data"]
assert len(bytes.fromhex(r["random_bytes"])) == 16, r
r = post("random/48", {})["data"]
assert len(unb64(r["random_bytes"])) == 48, r
assert post("random", {})["data"] != post("random", {})["data"]

section("export")
e = raises(exc.InvalidRequest, transit.export_key, "k-aes256-gcm96", "encryption-key", mount_point=MOUNT)
assert "private key material is not exportable" in str(e), e
create("exp-aes", "aes256-gcm96", exportable=True)
transit.rotate_key("exp-aes", mount_point=MOUNT)
ex = transit.export_key("exp-aes", "encryption-key", mount_point=MOUNT)["data"]
assert ex["name"] == "exp-aes" and ex["type"] == "aes256-gcm96", ex
assert sorted(ex["keys"]) == ["1", "2"] and len(unb64(ex["keys"]["1"])) == 32, ex
one = transit.export_key("exp-aes", "encryption-key", version="2", mount_point=MOUNT)["data"]
assert one["keys"] == {"2": ex["keys"]["2"]}, one
latest = transit.export_key("exp-aes", "encryption-key", version="latest", mount_point=MOUNT)["data"]
assert latest["keys"] == {"2": ex["keys"]["2"]}, latest
mac_keys = transit.export_key("exp-aes", "hmac-key", mount_point=MOUNT)["data"]["keys"]
assert sorted(mac_keys) == ["1", "2"] and len(unb64(mac_keys["1"])) == 32, mac_keys
assert mac_keys["1"] != ex["keys"]["1"]
raises(exc.InvalidRequest, transit.export_key, "exp-aes", "signing-key", mount_point=MOUNT)
create("exp-ed", "ed25519", exportable=True)
ek = transit.export_key("exp-ed", "signing-key", mount_point=MOUNT)["data"]["keys"]["1"]
assert len(unb64(ek)) == 64, "ed25519 signing key export is seed || public key"
assert unb64(ek)[32:] == unb64(read("exp-ed")["keys"]["1"]["public_key"])
create("exp-ec", "ecdsa-p256", exportable=True)
ek = transit.export_key("exp-ec", "signing-key", mount_point=MOUNT)["data"]["keys"]["1"]
assert ek.startswith("-----BEGIN EC PRIVATE KEY-----"), ek
create("exp-rsa", "rsa-2048", exportable=True)
ek = transit.export_key("exp-rsa", "encryption-key", mount_point=MOUNT)["data"]["keys"]["1"]
assert ek.startswith("-----BEGIN RSA PRIVATE KEY-----"), ek
assert transit.export_key("exp-rsa", "signing-key", mount_point=MOUNT)["data"]["keys"]["1"] == ek
# Public keys export without exportable.
pub = get("export/public-key/k-ecdsa-p256")["data"]["keys"]["1"]
# The same PEM as the key read shows, except that read ends it with a newline and export
# does not (OpenBao's exact forms).
shown = read("k-ecdsa-p256")["keys"]["1"]["public_key"]
assert pub + "\n" == shown, (pub, shown)
# An RSA public key exports exactly as read shows it, newline included.
pub = get("export/public-key/k-rsa-2048")["data"]["keys"]["1"]
assert pub == read("k-rsa-2048")["keys"]["1"]["public_key"] and pub.endswith("\n"), pub
pub = get("export/public-key/k-ed25519")["data"]["keys"]["1"]
assert pub == read("k-ed25519")["keys"]["1"]["public_key"], pub
e = raises(exc.InvalidRequest, transit.export_key, "k-hmac", "hmac-key", mount_point=MOUNT)
assert "private key material is not exportable" in str(e), e
create("exp-hmac", "hmac", exportable=True)
hk = transit.export_key("exp-hmac", "hmac-key", mount_point=MOUNT)["data"]["keys"]["1"]
assert len(unb64(hk)) == 32, hk
# exportable is one-way: setting it on an existing key works, and it then exports.
transit.update_key_configuration("k-chacha20-poly1305", exportable=True, mount_point=MOUNT)
ck = transit.export_key("k-chacha20-poly1305", "encryption-key", mount_point=MOUNT)
assert len(unb64(ck["data"]["keys"]["1"])) == 32, ck
# Turning it off again is accepted and ignored.
transit.update_key_configuration("k-chacha20-poly1305", exportable=False, mount_point=MOUNT)
assert read("k-chacha20-poly1305")["exportable"] is True

section("backup and restore")
# A backup needs both exportable and allow_plaintext_backup. OpenBao answers 500 for either
# refusal; transit_bad.py pins the status, this checks the reason.
e = raises(exc.VaultError, transit.backup_key, "k-aes256-gcm96", mount_point=MOUNT)
assert "exporting is disallowed on the policy" in str(e), e
e = raises(exc.VaultError, transit.backup_key, "exp-aes", mount_point=MOUNT)
assert "plaintext backup is disallowed on the policy" in str(e), e
create("bk", "aes256-gcm96", allow_plaintext_backup=True, exportable=True)
transit.rotate_key("bk", mount_point=MOUNT)
bk_ct1 = encrypt("bk", b"first", key_version=1)["ciphertext"]
bk_ct2 = encrypt("bk", b"second")["ciphertext"]
bk_mac = transit.generate_hmac("bk", hash_input=msg, mount_point=MOUNT)["data"]["hmac"]
backup = transit.backup_key("bk", mount_point=MOUNT)["data"]["backup"]
assert unb64(backup), "backup is base64"
transit.restore_key(backup, name="bk-copy", mount_point=MOUNT)
copy = read("bk-copy")
assert copy["name"] == "bk-copy" and copy["latest_version"] == 2, copy
assert copy["allow_plaintext_backup"] is True and copy["exportable"] is True, copy
assert decrypt("bk-copy", bk_ct1) == b"first" and decrypt("bk-copy", bk_ct2) == b"second"
ok = transit.verify_signed_data("bk-copy", hash_input=msg, hmac=bk_mac, mount_point=MOUNT)
assert ok["data"]["valid"] is True, ok
assert (
    transit.export_key("bk-copy", "encryption-key", mount_point=MOUNT)["data"]["keys"]
    == transit.export_key("bk", "encryption-key", mount_point=MOUNT)["data"]["keys"]
)
# Refused over an existing key unless forced (500 from OpenBao; pinned in transit_bad.py).
e = raises(exc.VaultError, transit.restore_key, backup, name="bk-copy", mount_point=MOUNT)
assert 'key "bk-copy" already exists' in str(e), e
transit.restore_key(backup, name="bk-copy", force=True, mount_point=MOUNT)
# Without a name the backup restores under its own name, which exists.
e = raises(exc.VaultError, transit.restore_key, backup, mount_point=MOUNT)
assert 'key "bk" already exists' in str(e), e
create("bk-sig", "ed25519", allow_plaintext_backup=True, exportable=True)
bs = sign("bk-sig")["signature"]
transit.restore_key(transit.backup_key("bk-sig", mount_point=MOUNT)["data"]["backup"], name="bk-sig2", mount_point=MOUNT)
assert verify("bk-sig2", bs)
assert read("bk-sig2")["keys"]["1"]["public_key"] == read("bk-sig")["keys"]["1"]["public_key"]
# allow_plaintext_backup is one-way.
transit.update_key_configuration(
    "k-aes128-gcm96", allow_plaintext_backup=True, exportable=True, mount_point=MOUNT
)
assert transit.backup_key("k-aes128-gcm96", mount_point=MOUNT)["data"]["backup"]
transit.update_key_configuration("k-aes128-gcm96", allow_plaintext_backup=False, mount_point=MOUNT)
assert read("k-aes128-gcm96")["allow_plaintext_backup"] is True

section("batches")
items = [
    {"plaintext": b64(b"first"), "reference": "r1"},
    {"plaintext": "not base64!", "reference": "r2"},
    {"plaintext": b64(b"third"), "reference": "r3"},
]
e = raises(
    exc.InvalidRequest,
    transit.encrypt_data,
    "k-aes256-gcm96",
    batch_input=items,
    mount_point=MOUNT,
)
# A partial failure answers 400 with the batch results as data (no top-level errors).
results = e.json["data"]["batch_results"]
assert [r["reference"] for r in results] == ["r1", "r2", "r3"], results
assert results[0]["ciphertext"].startswith("vault:v1:") and "error" not in results[0], results
assert results[1]["error"] and "ciphertext" not in results[1], results
assert results[2]["ciphertext"].startswith("vault:v1:"), results
for code in (200, 207):
    # hvac's encrypt_data does not pass partial_failure_response_code; plain requests does.
    out = requests.post(
        f"{ADDR}/v1/{MOUNT}/encrypt/k-aes256-gcm96",
        headers={"X-Vault-Token": ROOT},
        json={"batch_input": items, "partial_failure_response_code": code},
        verify=CA,
        timeout=60,
    )
    assert out.status_code == code, (code, out.status_code, out.text)
    again = out.json()["data"]["batch_results"]
    assert [r["reference"] for r in again] == ["r1", "r2", "r3"], again
    assert "error" in again[1] and "error" not in again[0], again
# All good: 200, each item in order.
good = [{"plaintext": b64(bytes([i]) * i), "reference": f"g{i}"} for i in range(1, 6)]
enc = transit.encrypt_data("k-aes256-gcm96", batch_input=good, mount_point=MOUNT)["data"]["batch_results"]
assert [r["reference"] for r in enc] == [f"g{i}" for i in range(1, 6)], enc
dec_items = [{"ciphertext": r["ciphertext"], "reference": r["reference"]} for r in enc]
dec_items.insert(2, {"ciphertext": "vault:v1:AAAA", "reference": "bad"})
e = raises(
    exc.InvalidRequest,
    transit.decrypt_data,
    "k-aes256-gcm96",
    batch_input=dec_items,
    mount_point=MOUNT,
)
dec = e.json["data"]["batch_results"]
assert [r["reference"] for r in dec] == ["g1", "g2", "bad", "g3", "g4", "g5"], dec
# OpenBao's failed decrypt item also carries "plaintext": "" next to its error.
assert dec[2]["error"] == "invalid ciphertext length" and not dec[2].get("plaintext"), dec
plain = [unb64(r["plaintext"]) for r in dec if not r.get("error")]
assert plain == [bytes([i]) * i for i in range(1, 6)], plain
dec_items.pop(2)
dec = transit.decrypt_data("k-aes256-gcm96", batch_input=dec_items, mount_point=MOUNT)["data"]["batch_results"]
assert [unb64(r["plaintext"]) for r in dec] == [bytes([i]) * i for i in range(1, 6)], dec
# Batches with contexts on a derived key.
batch = [{"plaintext": b64(b"p"), "context": ctx_a}, {"plaintext": b64(b"q"), "context": ctx_b}]
enc = transit.encrypt_data("derived", batch_input=batch, mount_point=MOUNT)["data"]["batch_results"]
back = [{"ciphertext": r["ciphertext"], "context": c["context"]} for r, c in zip(enc, batch)]
dec = transit.decrypt_data("derived", batch_input=back, mount_point=MOUNT)["data"]["batch_results"]
assert [unb64(r["plaintext"]) for r in dec] == [b"p", b"q"], dec
# Batch sign and verify.
sb = post("sign/k-ed25519", {"batch_input": [{"input": data, "reference": "s1"}, {"input": other, "reference": "s2"}]})
sigs = sb["data"]["batch_results"]
assert [s["reference"] for s in sigs] == ["s1", "s2"], sigs
vb = post(
    "verify/k-ed25519",
    {
        "batch_input": [
            {"input": data, "signature": sigs[0]["signature"], "reference": "v1"},
            {"input": data, "signature": sigs[1]["signature"], "reference": "v2"},
        ]
    },
)
assert [(v["reference"], v["valid"]) for v in vb["data"]["batch_results"]] == [("v1", True), ("v2", False)], vb
# Batch hmac.
hb = post("hmac/k-hmac", {"batch_input": [{"input": msg, "reference": "h1"}, {"input": data, "reference": "h2"}]})
macs = hb["data"]["batch_results"]
assert [m["reference"] for m in macs] == ["h1", "h2"] and macs[0]["hmac"] != macs[1]["hmac"], macs
# Batch rewrap.
rb = transit.rewrap_data(
    "k-aes256-gcm96",
    ciphertext=None,
    batch_input=[{"ciphertext": r["ciphertext"]} for r in transit.encrypt_data(
        "k-aes256-gcm96", batch_input=good[:2], mount_point=MOUNT
    )["data"]["batch_results"]],
    mount_point=MOUNT,
)["data"]["batch_results"]
assert len(rb) == 2 and all(r["ciphertext"].startswith("vault:v1:") for r in rb), rb

print("OK")
