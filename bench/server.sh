#!/usr/bin/env bash
# Measures Sigil's server beside OpenBao with the shared peer harness, in the same run.
#
# Sigil runs as a user would run it: `sigil dev` (TLS on, the file audit device on, the
# embedded store with every write durable). OpenBao runs as the harness starts it.
#
#   bench/server.sh HARNESS_DIR [load.py options...]
#   bench/server.sh ../shared/bench --scenarios kv_read,kv_write --concurrency 1,16 --runs 3
#   BENCH_HELLO=1 bench/server.sh ../shared/bench --scenarios encrypt,decrypt,sign_ed25519,sign_p256
#   BENCH_PIN=0:1 bench/server.sh ../shared/bench --scenarios kv_read --concurrency 16
#
# BENCH_PIN=SERVER_CPUS:LOADGEN_CPUS runs each server under `taskset -c SERVER_CPUS` (Sigil
# here, OpenBao through the harness's BAO_CPUS) and wrk under `taskset -c LOADGEN_CPUS`
# (the harness's --loadgen-cpus). Unpinned, wrk takes its CPU from the same cores as the
# server it measures, so a server's ops/s is bounded by what wrk costs per request as well
# as by its own cost; pinned, each server has the same cores to itself and the load
# generator has its own.
#
# HARNESS_DIR holds load.py and openbao.sh. Everything binds to 127.0.0.1 only; both servers
# are stopped by their recorded PIDs when the script exits. Prints the harness's tables,
# which include the paired ratios.
set -euo pipefail

harness=${1:?usage: bench/server.sh HARNESS_DIR [load.py options...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)

pin=()
loadgen=()
if [ -n "${BENCH_PIN:-}" ]; then
  server_cpus=${BENCH_PIN%%:*}
  loadgen_cpus=${BENCH_PIN#*:}
  [ -n "$server_cpus" ] && [ -n "$loadgen_cpus" ] && [ "$server_cpus" != "$BENCH_PIN" ] ||
    { echo "BENCH_PIN must be SERVER_CPUS:LOADGEN_CPUS, e.g. 0:1" >&2; exit 2; }
  pin=(taskset -c "$server_cpus")
  loadgen=(--loadgen-cpus "$loadgen_cpus")
  export BAO_CPUS=$server_cpus
fi
run=$(mktemp -d /tmp/sigil-bench.XXXXXX)
port=${SIGIL_BENCH_PORT:-8300}

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p sigil
"${pin[@]}" "$root/target/release/sigil" dev --dir "$run/sigil" --listen "127.0.0.1:$port" >"$run/sigil.out" 2>&1 &
sigil_pid=$!
floor_pid=
cleanup() {
  kill "$sigil_pid" $floor_pid 2>/dev/null || true
  "$harness/openbao.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  grep -q "address:" "$run/sigil.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "address:" "$run/sigil.out" || { cat "$run/sigil.out"; exit 1; }
# shellcheck disable=SC1091
. "$run/sigil/env"

# The transit keys the harness's scenarios use (openbao.sh makes the same ones in OpenBao).
sigil_api() {
  curl -sf --cacert "$SIGIL_CACERT" -H "X-Vault-Token: $SIGIL_TOKEN" -X POST \
    "$SIGIL_ADDR/v1/$1" -d "$2" >/dev/null
}
sigil_api sys/mounts/transit '{"type":"transit"}'
sigil_api transit/keys/aes '{"type":"aes256-gcm96"}'
sigil_api transit/keys/ed '{"type":"ed25519"}'
sigil_api transit/keys/p256 '{"type":"ecdsa-p256"}'
# The pki mount, root and roles of the pki_issue scenarios (as openbao.sh makes them).
sigil_api sys/mounts/pki '{"type":"pki"}'
sigil_api pki/root/generate/internal '{"common_name":"bench-root-ca","key_type":"ec","key_bits":256,"ttl":"87600h"}'
pki_role='"allow_any_name":true,"enforce_hostnames":false,"allow_subdomains":true,"key_type":"ec","key_bits":256,"ttl":"1h","max_ttl":"24h"'
sigil_api pki/roles/svc "{$pki_role}"
sigil_api pki/roles/svc-ns "{$pki_role,\"no_store\":true}"

"$harness/openbao.sh" start >/dev/null
eval "$("$harness/openbao.sh" env)"

# load.py checks TLS with Python's default context: trust Sigil's dev CA for this run.
SSL_CERT_FILE="$SIGIL_CACERT" python3 "$harness/load.py" \
  --target "openbao=$BAO_ADDR,token=$BAO_TOKEN,pid=$BAO_PID" \
  --target "sigil=$SIGIL_ADDR,token=$SIGIL_TOKEN,pid=$sigil_pid" \
  "${loadgen[@]}" "$@"
# BENCH_HELLO=1: the HTTP hello ceiling (limits.sh http) in the same run, for the
# "share of the ceiling" figures; then the floor of Sigil's own stack (the tls_floor
# example: tokio, hyper and rustls with Sigil's TLS configuration, doing no work) under the
# same load options, which shows what TLS and the runtime alone cost per request here.
if [ "${BENCH_HELLO:-0}" = 1 ]; then
  "$harness/openbao.sh" stop >/dev/null 2>&1 || true
  kill "$sigil_pid" 2>/dev/null || true
  "$harness/limits.sh" http
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p sigil-server --example tls_floor
  floor_addr=127.0.0.1:$((port + 1))
  "${pin[@]}" "$root/target/release/examples/tls_floor" "$floor_addr" \
    "$run/sigil/tls/server.pem" "$run/sigil/tls/server-key.pem" &
  floor_pid=$!
  sleep 0.5
  SSL_CERT_FILE="$SIGIL_CACERT" python3 "$harness/load.py" \
    --target "sigil-floor=https://$floor_addr,pid=$floor_pid" "${loadgen[@]}" "$@" \
    --scenarios hello,post1k
fi
echo "sigil audit log: $(wc -l <"$run/sigil/audit.log") records in $run/sigil/audit.log"
