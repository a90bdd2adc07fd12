"""hvac, unmodified, against a Sigil dev server: sys endpoints, KV v1 and v2, policies,
tokens and AppRole. Reads SIGIL_ADDR, SIGIL_CACERT and SIGIL_TOKEN. Exits non-zero with the
failing check's message on the first failure."""

import os
import sys

import hvac
from hvac import exceptions as exc

ADDR = os.environ["SIGIL_ADDR"]
CA = os.environ["SIGIL_CACERT"]
ROOT = os.environ["SIGIL_TOKEN"]


def client(token=ROOT):
    return hvac.Client(url=ADDR, token=token, verify=CA)


def raises(kind, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as e:
        return e
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")


def section(name):
    print(f"-- {name}", flush=True)


root = client()

section("sys")
assert root.is_authenticated()
assert not client("hvs.bogus").is_authenticated()
assert root.sys.is_initialized()
assert not root.sys.is_sealed()
health = root.sys.read_health_status(method="GET")
assert health["initialized"] and not health["sealed"], health
status = root.sys.read_seal_status()
assert status["sealed"] is False and status["type"] == "keyfile", status
leader = root.sys.read_leader_status()
assert leader["ha_enabled"] is False, leader
mounts = root.sys.list_mounted_secrets_engines()
assert mounts["secret/"]["options"]["version"] == "2", mounts["secret/"]
assert mounts["data"]["secret/"]["type"] == "kv"
root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
root.sys.enable_secrets_engine("kv", path="kv2", options={"version": "2"}, description="two")
raises(exc.InvalidRequest, root.sys.enable_secrets_engine, "kv", path="kv1")
raises(exc.InvalidRequest, root.sys.enable_secrets_engine, "nonesuch", path="x")
root.sys.tune_mount_configuration("kv2", default_lease_ttl="1h", max_lease_ttl="2h")
tuned = root.sys.read_mount_configuration("kv2")
assert tuned["data"]["default_lease_ttl"] == 3600, tuned
auths = root.sys.list_auth_methods()
assert "token/" in auths["data"], auths
key_status = root.sys.get_encryption_key_status()
assert key_status["data"]["term"] >= 1, key_status
root.sys.rotate_encryption_key()
assert root.sys.get_encryption_key_status()["data"]["term"] == key_status["data"]["term"] + 1

section("kv v2")
kv = root.secrets.kv.v2
w1 = kv.create_or_update_secret("app/db", secret={"user": "app", "password": "s3cr3t"})
assert w1["data"]["version"] == 1, w1
w2 = kv.create_or_update_secret("app/db", secret={"user": "app", "password": "n3w"}, cas=1)
assert w2["data"]["version"] == 2
e = raises(exc.InvalidRequest, kv.create_or_update_secret, "app/db", secret={"a": "b"}, cas=1)
assert "check-and-set parameter did not match the current version" in str(e), e
raises(exc.InvalidRequest, kv.create_or_update_secret, "app/new", secret={"a": "b"}, cas=5)
kv.create_or_update_secret("app/new", secret={"a": "b"}, cas=0)
raises(exc.InvalidRequest, kv.create_or_update_secret, "app/new", secret={"a": "c"}, cas=0)
r = kv.read_secret_version("app/db", raise_on_deleted_version=True)
assert r["data"]["data"] == {"user": "app", "password": "n3w"}, r
assert r["data"]["metadata"]["version"] == 2
old = kv.read_secret_version("app/db", version=1, raise_on_deleted_version=True)
assert old["data"]["data"]["password"] == "s3cr3t"
kv.patch("app/db", secret={"password": "patched"})
assert kv.read_secret_version("app/db", raise_on_deleted_version=True)["data"]["data"] == {
    "user": "app",
    "password": "patched",
}
kv.delete_latest_version_of_secret("app/db")
raises(exc.InvalidPath, kv.read_secret_version, "app/db", raise_on_deleted_version=True)
kv.undelete_secret_versions("app/db", versions=[3])
assert kv.read_secret_version("app/db", raise_on_deleted_version=True)["data"]["metadata"]["version"] == 3
kv.destroy_secret_versions("app/db", versions=[1])
meta = kv.read_secret_metadata("app/db")["data"]
assert meta["current_version"] == 3 and meta["versions"]["1"]["destroyed"] is True, meta
kv.update_metadata("app/db", max_versions=2, custom_metadata={"owner": "team-a"})
meta = kv.read_secret_metadata("app/db")["data"]
assert meta["max_versions"] == 2 and meta["custom_metadata"] == {"owner": "team-a"}, meta
keys = kv.list_secrets("app")["data"]["keys"]
assert sorted(keys) == ["db", "new"], keys
raises(exc.InvalidPath, kv.list_secrets, "nothing-here")
kv.configure(max_versions=5, cas_required=False, mount_point="secret")
assert kv.read_configuration()["data"]["max_versions"] == 5
kv.delete_metadata_and_all_versions("app/db")
raises(exc.InvalidPath, kv.read_secret_version, "app/db", raise_on_deleted_version=True)
big = {"k": "x" * 100_000}
kv.create_or_update_secret("big", secret=big)
assert kv.read_secret_version("big", raise_on_deleted_version=True)["data"]["data"] == big

section("kv v1")
kv1 = root.secrets.kv.v1
kv1.create_or_update_secret("a/b", secret={"x": "1"}, mount_point="kv1")
assert kv1.read_secret("a/b", mount_point="kv1")["data"] == {"x": "1"}
assert kv1.list_secrets("a", mount_point="kv1")["data"]["keys"] == ["b"]
kv1.delete_secret("a/b", mount_point="kv1")
raises(exc.InvalidPath, kv1.read_secret, "a/b", mount_point="kv1")

section("policies")
policy = """
path "secret/data/team-a/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/team-a/*" { capabilities = ["list"] }
path "secret/data/team-a/locked" { capabilities = ["deny"] }
path "auth/token/create" { capabilities = ["update"] }
"""
root.sys.create_or_update_policy("team-a", policy)
assert "team-a" in root.sys.list_policies()["data"]["policies"]
assert "path" in root.sys.read_policy("team-a")["data"]["rules"]
root.sys.create_or_update_acl_policy("team-b", 'path "kv1/*" { capabilities = ["read"] }')
assert "team-b" in root.sys.list_acl_policies()["data"]["keys"]
raises(exc.InvalidRequest, root.sys.create_or_update_policy, "broken", "path {")
raises(exc.InvalidRequest, root.sys.delete_policy, "root")

section("tokens")
child = root.auth.token.create(policies=["team-a"], ttl="1h")["auth"]
assert child["policies"] == ["default", "team-a"] or sorted(child["policies"]) == ["default", "team-a"], child
tc = client(child["client_token"])
me = tc.auth.token.lookup_self()["data"]
assert me["accessor"] == child["accessor"] and me["ttl"] <= 3600, me
tc.secrets.kv.v2.create_or_update_secret("team-a/app", secret={"k": "v"})
assert tc.secrets.kv.v2.read_secret_version("team-a/app", raise_on_deleted_version=True)["data"]["data"] == {"k": "v"}
raises(exc.Forbidden, tc.secrets.kv.v2.read_secret_version, "team-b/app", raise_on_deleted_version=True)
raises(exc.Forbidden, tc.secrets.kv.v2.create_or_update_secret, "team-a/locked", secret={"k": "v"})
raises(exc.Forbidden, tc.sys.enable_secrets_engine, "kv", path="nope")
resp = tc.adapter.post("/v1/sys/capabilities-self", json={"paths": ["secret/data/team-a/x", "secret/data/team-a/locked"]})
caps = resp
assert sorted(caps["secret/data/team-a/x"]) == ["create", "read", "update"], caps
assert caps["secret/data/team-a/locked"] == ["deny"], caps
grandchild = tc.auth.token.create(policies=["team-a"])["auth"]
e = raises(exc.InvalidRequest, tc.auth.token.create, policies=["team-b"])
assert "subset" in str(e), e
root.auth.token.revoke(child["client_token"])
assert not client(grandchild["client_token"]).is_authenticated(), "children die with the parent"
orphan = root.auth.token.create_orphan(policies=["team-b"])["auth"]
assert orphan["orphan"] is True
looked = root.auth.token.lookup_accessor(orphan["accessor"])["data"]
assert looked["policies"] == ["default", "team-b"] or sorted(looked["policies"]) == ["default", "team-b"]
root.auth.token.revoke_accessor(orphan["accessor"])
assert not client(orphan["client_token"]).is_authenticated()
limited = root.auth.token.create(policies=["team-b"], num_uses=2)["auth"]
lc = client(limited["client_token"])
lc.auth.token.lookup_self()
lc.auth.token.lookup_self()
assert not lc.is_authenticated(), "num_uses exhausted"
renewable = root.auth.token.create(ttl="10m", explicit_max_ttl="20m")["auth"]
renewed = root.auth.token.renew(renewable["client_token"], increment="15m")["auth"]
assert 0 < renewed["lease_duration"] <= 1200, renewed

section("approle")
root.sys.enable_auth_method("approle")
root.auth.approle.create_or_update_approle("web", token_policies=["team-a"], token_ttl="30m", secret_id_num_uses=2)
role_id = root.auth.approle.read_role_id("web")["data"]["role_id"]
sid = root.auth.approle.generate_secret_id("web")["data"]
login = client(None).auth.approle.login(role_id=role_id, secret_id=sid["secret_id"])
assert "team-a" in login["auth"]["policies"], login
assert client(login["auth"]["client_token"]).is_authenticated()
client(None).auth.approle.login(role_id=role_id, secret_id=sid["secret_id"])
raises(exc.InvalidRequest, client(None).auth.approle.login, role_id=role_id, secret_id=sid["secret_id"])
raises(exc.InvalidRequest, client(None).auth.approle.login, role_id=role_id, secret_id="wrong")
raises(exc.InvalidRequest, client(None).auth.approle.login, role_id="wrong", secret_id="wrong")
assert "web" in root.auth.approle.list_roles()["data"]["keys"]

section("disable")
root.sys.disable_secrets_engine("kv1")
assert "kv1/" not in root.sys.list_mounted_secrets_engines()["data"]

print("OK")
