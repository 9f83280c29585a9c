# Sourced by scripts/demo.sh and scripts/test.sh: apt_install PACKAGE... installs those of the
# Debian packages given that are not installed yet (one apt-get update first), as root or
# through sudo.
apt_install() {
    local missing=() p sudo=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building the libraries and tools needs (the demo); the test command adds its own.
build_deps=(meson ninja-build gcc pkg-config libcurl4-openssl-dev libjson-c-dev uuid-dev
            libsqlite3-dev)
