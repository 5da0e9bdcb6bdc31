#!/usr/bin/env bash
# Builds (or reuses) the rig's kernel: bzImage and i2c-stub.ko from Debian's linux-source-6.1, configured
# with `make tinyconfig` plus rig/kernel.fragment (and any extra fragments given). The result is cached outside
# the clone, keyed by a hash of the fragments and the source package version, so later runs on the same machine
# skip the build.
# Usage: rig/build-kernel.sh [EXTRA.fragment...]   prints the cache directory holding bzImage and i2c-stub.ko
# Environment: PACKGUARD_RIG_CACHE (default /var/cache/packguard-rig), JOBS (default nproc).
set -euo pipefail
rig=$(cd "$(dirname "$0")" && pwd)
cache_root=${PACKGUARD_RIG_CACHE:-/var/cache/packguard-rig}
source_tar=/usr/src/linux-source-6.1.tar.xz
[ -f "$source_tar" ] || { echo "error: $source_tar missing (apt-get install linux-source-6.1)" >&2; exit 1; }

fragments=("$rig/kernel.fragment")
for fragment in "$@"; do
    [ -f "$fragment" ] || { echo "error: no kernel fragment $fragment" >&2; exit 1; }
    fragments+=("$(cd "$(dirname "$fragment")" && pwd)/$(basename "$fragment")")  # the build runs elsewhere
done
source_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s "$source_tar")
# Without extra fragments the key is the one of rig/kernel.fragment alone (caches stay valid).
key=$( { cat "$rig/kernel.fragment"; echo "$source_version"; [ $# = 0 ] || cat "$@"; } | sha256sum | cut -c1-16)
out="$cache_root/$key"
if [ -f "$out/bzImage" ] && [ -f "$out/i2c-stub.ko" ]; then
    echo "kernel: reusing $out (fragment hash $key)" >&2
    echo "$out"; exit 0
fi

mkdir -p "$cache_root"
work="$cache_root/build-$key"
rm -rf "$work"; mkdir -p "$work"
echo "kernel: building into $out (fragment hash $key, linux-source-6.1 $source_version); takes minutes" >&2
start=$(date +%s)
tar -xf "$source_tar" -C "$work"
src="$work/linux-source-6.1"
jobs=${JOBS:-$(nproc)}
(
    cd "$src"
    make -s tinyconfig >/dev/null
    scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >/dev/null
    make -s olddefconfig >/dev/null
    # Every line of the fragment must have survived olddefconfig (a dependency missing drops it silently).
    missing=0
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=*) grep -qx "$line" .config || { echo "kernel: $line did not survive olddefconfig" >&2; missing=1; } ;;
        esac
    done < <(cat "${fragments[@]}")
    [ "$missing" = 0 ] || exit 1
    make -s -j"$jobs" bzImage modules >/dev/null
) >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; echo "kernel: build failed, log in $work/build.log" >&2; exit 1; }

mkdir -p "$out.tmp"
cp "$src/arch/x86/boot/bzImage" "$src/drivers/i2c/i2c-stub.ko" "$src/.config" "$out.tmp/"
cp "$src/.config" "$out.tmp/config"; rm -f "$out.tmp/.config"
rm -rf "$out"; mv "$out.tmp" "$out"
rm -rf "$work"
echo "kernel: built in $(( $(date +%s) - start )) s" >&2
echo "$out"
