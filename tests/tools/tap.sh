# TAP helpers for the tool tests (sourced): pass/flunk/expect, and loopback servers started
# from the test and stopped at exit. Needs $tmp (a scratch directory) and $python.
n=0 failed=0
pids=()
pass() { n=$((n + 1)); echo "ok $n - $1"; }
flunk() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /' | tail -15; }
expect() { # expect DESCRIPTION WANT_EXIT COMMAND...   (output in $out)
    local what=$1 want=$2; shift 2
    out=$("$@" 2>&1); local rc=$?
    if [ "$rc" = "$want" ]; then pass "$what"; else flunk "$what (exit $rc, want $want)" "$out"; fi
}
check() { # check DESCRIPTION CONDITION...   (a command that succeeds or not; shows $out on failure)
    local what=$1; shift
    if "$@"; then pass "$what"; else flunk "$what" "$out"; fi
}
pyassert() { # pyassert DESCRIPTION TEXT PYTHON_EXPR_OVER_d   (d: the first JSON value in TEXT
              # that starts a line; lines of messages before it are skipped)
    if "$python" -c '
import json, re, sys
t = sys.argv[1]
m = re.search(r"^[\[{]", t, re.M)
d = json.JSONDecoder().raw_decode(t[m.start():])[0]
assert eval(sys.argv[2]), d' "$2" "$3" >/dev/null 2>&1; then
        pass "$1"
    else
        flunk "$1" "$2"
    fi
}
# start_server VAR NAME ARGS...: runs a test server (which prints "NAME=URL" once), waits for
# its URL and puts it in VAR.
start_server() {
    local var=$1 key=$2; shift 2
    local log="$tmp/server.$RANDOM.$RANDOM"
    "$python" "$@" >"$log" 2>&1 &
    pids+=($!)
    local url=
    for _ in $(seq 200); do
        url=$(sed -n "s/^$key=//p" "$log")
        [ -n "$url" ] && break
        sleep 0.05
    done
    printf -v "$var" '%s' "$url"
}
stop_servers() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    pids=()
}
