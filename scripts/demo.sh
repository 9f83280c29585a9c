#!/usr/bin/env bash
# The project's main job on the embedded default (the README's first command): installs what it
# needs on a fresh Debian machine, builds, and runs `ragctl demo` — a versioned index built from
# examples/corpus in local mode (no server), with a failure injected at embed, a replay, a second
# version, a rollback and a query. Exits non-zero if any stage does not hold.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh
apt_install "${build_deps[@]}"
[ -d build-demo ] || meson setup build-demo -Dtests=false >/dev/null
ninja -C build-demo tools/ragctl >/dev/null
state=$(mktemp -d /tmp/ragctl-demo.XXXXXX)
echo "state directory: $state (kept for inspection: ragctl --state-dir $state history --index demo)"
RAG_STATE_DIR=$state exec ./build-demo/tools/ragctl demo "$@"
