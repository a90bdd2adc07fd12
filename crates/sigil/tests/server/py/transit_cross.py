"""Transit keys moved between OpenBao and Sigil by backup and restore, in both directions:
what one server encrypted, signed or MACed, the other decrypts and verifies, and both export
the same key bytes. Also a key with three versions and a derived convergent key (both
servers give the same ciphertext for the same plaintext and context).

Needs two servers: PEER_ADDR, PEER_TOKEN (and optionally PEER_CACERT) name the OpenBao
server; SIGIL_ADDR, SIGIL_TOKEN and SIGIL_CACERT (empty: plain HTTP) name Sigil. Pointing
SIGIL_* at a second OpenBao server checks the script itself. Exits non-zero with the
failing check's message on the first failure; prints OK at the end."""

import base64
import hashlib
import os

import hvac

MOUNT = "transit-cross"

SYMMETRIC = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]
RSA = ["rsa-2048", "rsa-3072", "rsa-4096"]
ECDSA = ["ecdsa-p256", "ecdsa-p384"]
SIGNING = ["ed25519", *ECDSA, *RSA]
ENCRYPTING = [*SYMMETRIC, *RSA]
ALL_TYPES = [*SYMMETRIC, *SIGNING, "hmac"]

MESSAGE = b"cross-server message \x00\x01\xfe"
AAD = base64.b64encode(b"associated").decode()
INPUT = base64.b64encode(b"signed across servers").decode()


def section(name):
    print(f"-- {name}", flush=True)


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


class Server:
    """One transit mount on one server, through hvac."""

    def __init__(self, label, addr, token, ca):
        self.label = label
        self.client = hvac.Client(url=addr, token=token, verify=ca or True)
        self.transit = self.client.secrets.transit
        self.http = self.client.adapter

    def mount(self):
        self.client.sys.enable_secrets_engine("transit", path=MOUNT)

    def post(self, path, body):
        resp = self.http.post(f"/v1/{MOUNT}/{path}", json=body)
        return resp if isinstance(resp, dict) else {}

    def get(self, path):
        return self.http.get(f"/v1/{MOUNT}/{path}")

    def create(self, name, key_type, **flags):
        body = {"type": key_type, "exportable": True, "allow_plaintext_backup": True, **flags}
        if key_type == "hmac":
            body["key_size"] = 32
        self.post(f"keys/{name}", body)

    def read(self, name):
        return self.get(f"keys/{name}")["data"]

    def encrypt(self, name, plaintext, **kw):
        out = self.post(f"encrypt/{name}", {"plaintext": b64(plaintext), **kw})
        return out["data"]["ciphertext"]

    def decrypt(self, name, ciphertext, **kw):
        try:
            out = self.post(f"decrypt/{name}", {"ciphertext": ciphertext, **kw})
        except hvac.exceptions.VaultError as e:
            raise AssertionError(f"{self.label} cannot decrypt {ciphertext[:20]}...: {e}") from e
        return unb64(out["data"]["plaintext"])

    def sign(self, name, **kw):
        return self.post(f"sign/{name}", {"input": INPUT, **kw})["data"]["signature"]

    def verify(self, name, signature, **kw):
        out = self.post(f"verify/{name}", {"input": INPUT, "signature": signature, **kw})
        return out["data"]["valid"]

    def hmac(self, name, **kw):
        return self.post(f"hmac/{name}", {"input": INPUT, **kw})["data"]["hmac"]

    def verify_hmac(self, name, mac, **kw):
        out = self.post(f"verify/{name}", {"input": INPUT, "hmac": mac, **kw})
        return out["data"]["valid"]

    def backup(self, name):
        return self.get(f"backup/{name}")["data"]["backup"]

    def restore(self, backup, name=None):
        path = "restore" if name is None else f"restore/{name}"
        self.post(path, {"backup": backup})

    def export(self, kind, name):
        return self.get(f"export/{kind}/{name}")["data"]


peer = Server("OpenBao", os.environ["PEER_ADDR"], os.environ["PEER_TOKEN"], os.environ.get("PEER_CACERT"))
sigil = Server("Sigil", os.environ["SIGIL_ADDR"], os.environ["SIGIL_TOKEN"], os.environ.get("SIGIL_CACERT"))


def export_kinds(key_type):
    kinds = ["hmac-key"]
    if key_type in ENCRYPTING:
        kinds.append("encryption-key")
    if key_type in SIGNING:
        kinds += ["signing-key", "public-key"]
    return kinds


def same_key(name, key_type, a, b):
    """Both servers hold the same key: read views agree and every export is identical."""
    ra, rb = a.read(name), b.read(name)
    for field in (
        "type",
        "latest_version",
        "min_decryption_version",
        "min_encryption_version",
        "min_available_version",
        "derived",
        "exportable",
        "allow_plaintext_backup",
        "supports_encryption",
        "supports_decryption",
        "supports_signing",
        "supports_derivation",
    ):
        assert ra[field] == rb[field], f"{name}: {field} {a.label}={ra[field]!r} {b.label}={rb[field]!r}"
    if key_type == "hmac":
        assert ra["key_size"] == rb["key_size"], (ra, rb)
    elif key_type in SIGNING:
        assert sorted(ra["keys"]) == sorted(rb["keys"]), (ra["keys"], rb["keys"])
        for v, ka in ra["keys"].items():
            kb = rb["keys"][v]
            assert ka["public_key"] == kb["public_key"], f"{name} v{v}: public keys differ"
            # The creation time survives the move (compared to the second).
            assert ka["creation_time"][:19] == kb["creation_time"][:19], (ka, kb)
    else:
        assert ra["keys"] == rb["keys"], f"{name}: version times {ra['keys']} vs {rb['keys']}"
    for kind in export_kinds(key_type):
        ea, eb = a.export(kind, name), b.export(kind, name)
        assert ea["keys"] == eb["keys"], f"{name}: {kind} exports differ between {a.label} and {b.label}"
        assert ea["type"] == eb["type"] == key_type, (ea["type"], eb["type"])


def produce(server, name, key_type):
    """Everything `server` can make with a key, to be checked by the other server."""
    made = {"hmac": server.hmac(name), "hmac512": server.hmac(name, algorithm="sha2-512")}
    if key_type in SYMMETRIC:
        made["ct"] = server.encrypt(name, MESSAGE)
        made["ct_aad"] = server.encrypt(name, MESSAGE, associated_data=AAD)
        made["ct_empty"] = server.encrypt(name, b"")
        dk = server.post(f"datakey/plaintext/{name}", {})["data"]
        made["datakey"] = (dk["plaintext"], dk["ciphertext"])
    elif key_type in RSA:
        made["ct"] = server.encrypt(name, MESSAGE)
    if key_type == "ed25519":
        made["sigs"] = [({}, server.sign(name))]
    elif key_type in ECDSA:
        made["sigs"] = [
            (opts, server.sign(name, **opts))
            for opts in (
                {},
                {"hash_algorithm": "sha2-384", "marshaling_algorithm": "asn1"},
                {"hash_algorithm": "sha2-512", "marshaling_algorithm": "jws"},
            )
        ]
        digest = b64(hashlib.sha256(b"signed across servers").digest())
        prehashed = {"input": digest, "prehashed": True, "hash_algorithm": "sha2-256"}
        made["sigs"].append((prehashed, server.sign(name, **prehashed)))
    elif key_type in RSA:
        made["sigs"] = [
            (opts, server.sign(name, **opts))
            for opts in (
                {},
                {"signature_algorithm": "pss", "hash_algorithm": "sha2-512"},
                {"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-256"},
                {"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-384"},
            )
        ]
    return made


def check(server, name, key_type, made):
    """`server` (which restored the key) accepts and reproduces what the other one made."""
    assert server.verify_hmac(name, made["hmac"]), f"{server.label}: {key_type} hmac"
    assert server.verify_hmac(name, made["hmac512"], hash_algorithm="sha2-512"), key_type
    # HMACs are deterministic: the same key gives the same value.
    assert server.hmac(name) == made["hmac"], f"{server.label}: {key_type} hmac differs"
    if "ct" in made:
        assert server.decrypt(name, made["ct"]) == MESSAGE, key_type
    if "ct_aad" in made:
        assert server.decrypt(name, made["ct_aad"], associated_data=AAD) == MESSAGE, key_type
        assert server.decrypt(name, made["ct_empty"]) == b"", key_type
        plain, wrapped = made["datakey"]
        assert server.decrypt(name, wrapped) == unb64(plain), key_type
    for opts, sig in made.get("sigs", []):
        opts = dict(opts)
        assert server.verify(name, sig, **opts), f"{server.label}: {key_type} {opts} signature"
        assert not server.verify(name, sig, **{**opts, "input": b64(b"other")}), key_type
        deterministic = key_type == "ed25519" or opts.get("signature_algorithm") == "pkcs1v15"
        if deterministic:
            assert server.sign(name, **opts) == sig, f"{server.label}: {key_type} {opts} differs"


section("mounts")
peer.mount()
sigil.mount()

section("OpenBao to Sigil, every key type")
for t in ALL_TYPES:
    name = f"from-bao-{t}"
    peer.create(name, t)
    made = produce(peer, name, t)
    # Restored without a name: the backup carries its own.
    sigil.restore(peer.backup(name))
    same_key(name, t, peer, sigil)
    check(sigil, name, t, made)
    print(f"   {t}", flush=True)

section("Sigil to OpenBao, every key type")
for t in ALL_TYPES:
    name = f"from-sigil-{t}"
    sigil.create(name, t)
    made = produce(sigil, name, t)
    peer.restore(sigil.backup(name), name=name)
    same_key(name, t, sigil, peer)
    check(peer, name, t, made)
    print(f"   {t}", flush=True)

section("a key with three versions")
peer.create("rotated", "aes256-gcm96")
peer.post("keys/rotated/rotate", {})
peer.post("keys/rotated/rotate", {})
cts = {v: peer.encrypt("rotated", f"version {v}".encode(), key_version=v) for v in (1, 2, 3)}
sigs_key = "rotated-ec"
peer.create(sigs_key, "ecdsa-p256")
peer.post(f"keys/{sigs_key}/rotate", {})
peer.post(f"keys/{sigs_key}/rotate", {})
sigs = {v: peer.sign(sigs_key, key_version=v) for v in (1, 2, 3)}
sigil.restore(peer.backup("rotated"))
sigil.restore(peer.backup(sigs_key))
same_key("rotated", "aes256-gcm96", peer, sigil)
same_key(sigs_key, "ecdsa-p256", peer, sigil)
for v, ct in cts.items():
    assert ct.startswith(f"vault:v{v}:"), ct
    assert sigil.decrypt("rotated", ct) == f"version {v}".encode(), v
for v, sig in sigs.items():
    assert sig.startswith(f"vault:v{v}:") and sigil.verify(sigs_key, sig), v
# Sigil encrypts with the latest (3); OpenBao decrypts that.
ct3 = sigil.encrypt("rotated", b"from sigil")
assert ct3.startswith("vault:v3:") and peer.decrypt("rotated", ct3) == b"from sigil", ct3
# Rewrapped on Sigil to the latest version, still decrypts on OpenBao.
rw = sigil.post("rewrap/rotated", {"ciphertext": cts[1]})["data"]["ciphertext"]
assert rw.startswith("vault:v3:") and peer.decrypt("rotated", rw) == b"version 1", rw
# A fourth version made on Sigil travels back with its minimum decryption version.
sigil.post("keys/rotated/rotate", {})
sigil.post("keys/rotated/config", {"min_decryption_version": 2})
ct4 = sigil.encrypt("rotated", b"four")
peer.restore(sigil.backup("rotated"), name="rotated-back")
back = peer.read("rotated-back")
assert back["latest_version"] == 4 and back["min_decryption_version"] == 2, back
assert peer.decrypt("rotated-back", ct4) == b"four"
assert peer.decrypt("rotated-back", cts[2]) == b"version 2"
try:
    peer.decrypt("rotated-back", cts[1])
    raise AssertionError("version 1 decrypted below min_decryption_version after restore")
except AssertionError as e:
    assert "too old" in str(e), e
# Trimmed on Sigil, the key moves without its dropped version.
sigil.post("keys/rotated/config", {"min_encryption_version": 3})
sigil.post("keys/rotated/trim", {"min_available_version": 2})
peer.restore(sigil.backup("rotated"), name="rotated-trimmed")
same_key("rotated-trimmed", "aes256-gcm96", peer, peer)
trimmed = peer.read("rotated-trimmed")
assert trimmed["min_available_version"] == 2 and sorted(trimmed["keys"]) == ["2", "3", "4"], trimmed
assert peer.export("encryption-key", "rotated-trimmed")["keys"] == {
    v: k for v, k in sigil.export("encryption-key", "rotated")["keys"].items() if v != "1"
}
assert peer.decrypt("rotated-trimmed", ct4) == b"four"

section("derived and convergent keys")
ctx = b64(b"tenant-42")
for t in SYMMETRIC:
    name = f"conv-{t}"
    peer.create(name, t, derived=True, convergent_encryption=True)
    sigil.restore(peer.backup(name))
    same_key(name, t, peer, sigil)
    a = peer.encrypt(name, MESSAGE, context=ctx)
    b = sigil.encrypt(name, MESSAGE, context=ctx)
    assert a == b, f"{t}: convergent ciphertexts differ: {a} vs {b}"
    assert sigil.decrypt(name, a, context=ctx) == MESSAGE
    assert peer.decrypt(name, b, context=ctx) == MESSAGE
    other = b64(b"tenant-43")
    assert sigil.encrypt(name, MESSAGE, context=other) == peer.encrypt(name, MESSAGE, context=other)
    assert sigil.encrypt(name, MESSAGE, context=other) != a
    # The same the other way: convergent on Sigil, restored into OpenBao.
    rname = f"conv-sigil-{t}"
    sigil.create(rname, t, derived=True, convergent_encryption=True)
    peer.restore(sigil.backup(rname))
    same_key(rname, t, sigil, peer)
    a = sigil.encrypt(rname, MESSAGE, context=ctx)
    assert peer.encrypt(rname, MESSAGE, context=ctx) == a, f"{t}: convergent ciphertexts differ"
    assert peer.decrypt(rname, a, context=ctx) == MESSAGE
    # A derived (not convergent) key: contexts derive the same keys on both sides.
    dname = f"derived-{t}"
    sigil.create(dname, t, derived=True)
    made = sigil.encrypt(dname, MESSAGE, context=ctx)
    peer.restore(sigil.backup(dname))
    assert peer.decrypt(dname, made, context=ctx) == MESSAGE, t
    try:
        peer.decrypt(dname, made, context=other)
        raise AssertionError(f"{t}: decrypted under another context")
    except AssertionError as e:
        assert "cannot decrypt" in str(e), e
# A derived ed25519 key: the same context gives the same signature on both servers.
peer.create("derived-ed", "ed25519", derived=True)
sigil.restore(peer.backup("derived-ed"))
sa = peer.sign("derived-ed", context=ctx)
sb = sigil.sign("derived-ed", context=ctx)
assert sa == sb, f"derived ed25519 signatures differ: {sa} vs {sb}"
assert sigil.verify("derived-ed", sa, context=ctx) and peer.verify("derived-ed", sb, context=ctx)

print("OK")
