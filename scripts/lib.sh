# Shared helpers for PackGuard's scripts. Sourced, not run.
set -euo pipefail

# Run as root, or through sudo when not root.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install Debian packages that are missing (apt-get update only when something is missing).
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "==> installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_swift() {
    command -v swift >/dev/null 2>&1 || {
        echo "swift is not on PATH: install Swift 6.1 or later (https://www.swift.org/install/linux/) first" >&2
        exit 1
    }
}

# swift build, failing on any warning in PackGuard's own code (dependencies' warnings are theirs).
build_without_warnings() {
    local log
    log=$(mktemp)
    if ! swift build "$@" 2>&1 | tee "$log"; then rm -f "$log"; return 1; fi
    if grep -E "^(/.*)?(Sources|Tests|Benchmarks)/.*: warning:" "$log" | grep -v "/.build" ; then
        echo "error: the build has warnings in PackGuard's code (above)" >&2
        rm -f "$log"; return 1
    fi
    rm -f "$log"
}

# The libgpiod 2.x build (rig/build-libgpiod2.sh makes the prefix): sets GPIOD2_PREFIX, exports
# PKG_CONFIG_PATH to it, and sets GPIOD2_SWIFT_ARGS, the arguments every `swift build`/`swift test` of
# that build takes (its own scratch path, and an rpath to the prefix's libgpiod.so.3).
use_libgpiod2() {
    ensure_packages gcc python3-pip pkg-config
    GPIOD2_PREFIX=$(rig/build-libgpiod2.sh)
    export PKG_CONFIG_PATH="$GPIOD2_PREFIX/lib/pkgconfig"
    GPIOD2_SWIFT_ARGS=(--scratch-path .build-gpiod2 -Xlinker -rpath -Xlinker "$GPIOD2_PREFIX/lib")
}
