#!/usr/bin/env bash
# The project's main job on the embedded default (the README's first command): installs what it
# needs on a fresh Debian machine, builds, and runs `ragctl demo` — a versioned index built from
# examples/corpus in local mode (no server), with a failure injected at embed, a replay, a second
# version, a rollback and a query. Exits non-zero if any stage does not hold.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=(meson ninja-build gcc pkg-config libcurl4-openssl-dev libjson-c-dev uuid-dev libsqlite3-dev)
missing=()
for p in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d build-demo ] || meson setup build-demo -Dtests=false >/dev/null
ninja -C build-demo tools/ragctl >/dev/null
state=$(mktemp -d /tmp/ragctl-demo.XXXXXX)
echo "state directory: $state (kept for inspection: ragctl --state-dir $state history --index demo)"
RAG_STATE_DIR=$state exec ./build-demo/tools/ragctl demo "$@"
