#!/usr/bin/env bash
# Builds (or reuses) libgpiod 2.x, the library Raspberry Pi OS trixie ships, in a private prefix, so that
# CI can build and run PackGuard against the v2 API on Debian 12 (which only packages libgpiod 1.6.3).
#
# Debian 12 has no libgpiod 2.x package. PyPI's `gpiod` source distribution vendors the complete C
# library (lib/*.c, lib/uapi/gpio.h, include/gpiod.h, and libgpiod-version.txt naming its version), so
# the registry's own client fetches it and this script compiles lib/*.c into libgpiod.so.3 (the soname
# of every libgpiod 2.x) with a libgpiod.pc beside it. Nothing fetched is written into the clone: the
# download, the build and the prefix all live in the cache, keyed by the sdist version, the libgpiod
# version it carries and a hash of this script (a changed recipe builds a new prefix).
#
# Usage: rig/build-libgpiod2.sh      prints the prefix (holding include/, lib/ and lib/pkgconfig/)
# Then:  PKG_CONFIG_PATH=<prefix>/lib/pkgconfig swift build --scratch-path .build-gpiod2 \
#            -Xlinker -rpath -Xlinker <prefix>/lib
# The rpath lets the binary find libgpiod.so.3 at run time without LD_LIBRARY_PATH (also in the rig's
# guest, which shares the host's root file system). It cannot go into the .pc file: SwiftPM refuses
# -Wl,-rpath from pkg-config ("prohibited flag"). Without it the binary fails to start (libgpiod.so.3
# not found) rather than load Debian's v1 library, whose soname is libgpiod.so.2.
# Environment: PACKGUARD_RIG_CACHE (default /var/cache/packguard-rig), GPIOD_SDIST_VERSION (default 2.5.0).
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cache_root=${PACKGUARD_RIG_CACHE:-/var/cache/packguard-rig}
sdist_version=${GPIOD_SDIST_VERSION:-2.5.0}
# The libgpiod version that sdist carries (its libgpiod-version.txt), checked after unpacking.
case "$sdist_version" in
    2.5.0) expected_libgpiod=2.3 ;;
    *) expected_libgpiod= ;;  # another sdist: whatever it carries, as long as it is 2.x
esac

key=$( { cat "$script"; echo "$sdist_version"; } | sha256sum | cut -c1-12)
prefix="$cache_root/libgpiod-${expected_libgpiod:-sdist$sdist_version}-$key"
if [ -f "$prefix/lib/pkgconfig/libgpiod.pc" ] && [ -f "$prefix/lib/libgpiod.so.3" ] && [ -f "$prefix/include/gpiod.h" ]; then
    echo "libgpiod2: reusing $prefix" >&2
    echo "$prefix"; exit 0
fi

command -v gcc >/dev/null || { echo "libgpiod2: gcc missing (apt-get install gcc)" >&2; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || { echo "libgpiod2: pip missing (apt-get install python3-pip)" >&2; exit 1; }

mkdir -p "$cache_root"
work="$cache_root/libgpiod-build-$key"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "libgpiod2: pip download gpiod==$sdist_version (source distribution) into $work" >&2
# --no-binary :all: gives the sdist (which carries the C library) rather than a wheel (which has it compiled in).
python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "gpiod==$sdist_version" >&2
tarball="$work/gpiod-$sdist_version.tar.gz"
[ -f "$tarball" ] || { echo "libgpiod2: pip did not leave $tarball" >&2; ls -la "$work" >&2; exit 1; }
tar -xzf "$tarball" -C "$work"
src="$work/gpiod-$sdist_version"

# Check the layout rather than trust it: a future sdist that stopped vendoring the library must fail here.
for file in include/gpiod.h lib/internal.h lib/uapi/gpio.h lib/chip.c lib/line-request.c libgpiod-version.txt; do
    [ -f "$src/$file" ] || { echo "libgpiod2: the gpiod $sdist_version sdist has no $file: it no longer vendors libgpiod" >&2; exit 1; }
done
libgpiod_version=$(tr -d ' \n' <"$src/libgpiod-version.txt")
case "$libgpiod_version" in
    2.*) ;;
    *) echo "libgpiod2: the sdist carries libgpiod '$libgpiod_version', expected 2.x" >&2; exit 1 ;;
esac
if [ -n "$expected_libgpiod" ] && [ "$libgpiod_version" != "$expected_libgpiod" ]; then
    echo "libgpiod2: gpiod $sdist_version carries libgpiod $libgpiod_version, expected $expected_libgpiod" >&2; exit 1
fi

# As upstream's autotools build does: hidden visibility, with the GPIOD_API functions exported, and the
# version string that gpiod_api_version() returns (upstream's configure defines it; the sdist's setup.py
# passes it the same way).
out="$prefix.tmp"
rm -rf "$out"; mkdir -p "$out/lib/pkgconfig" "$out/include"
gcc -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -Wall \
    -DGPIOD_API_VERSION_STR="\"$libgpiod_version\"" \
    -I"$src/include" -I"$src/lib" \
    -shared -Wl,-soname,libgpiod.so.3 -o "$out/lib/libgpiod.so.3" \
    "$src"/lib/*.c >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "libgpiod2: compile failed" >&2; exit 1; }
ln -s libgpiod.so.3 "$out/lib/libgpiod.so"
cp "$src/include/gpiod.h" "$out/include/"
cp "$src/LICENSE" "$out/LICENSE" 2>/dev/null || true
# The exported API must be v2's (a v1 symbol here would mean the wrong sources were built).
exported=$(nm -D --defined-only "$out/lib/libgpiod.so.3" | awk '{ print $3 }')
for symbol in gpiod_api_version gpiod_chip_request_lines gpiod_line_request_set_values_subset gpiod_edge_event_buffer_new; do
    grep -qx "$symbol" <<<"$exported" || { echo "libgpiod2: libgpiod.so.3 does not export $symbol" >&2; exit 1; }
done

# prefix= is the final location (the directory is renamed into place below).
cat >"$out/lib/pkgconfig/libgpiod.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libgpiod
Description: libgpiod $libgpiod_version (C library from the PyPI gpiod $sdist_version sdist), built by PackGuard's rig/build-libgpiod2.sh
Version: $libgpiod_version
Libs: -L\${libdir} -lgpiod
Cflags: -I\${includedir}
EOF
rm -rf "$prefix"; mv "$out" "$prefix"
echo "libgpiod2: built libgpiod $libgpiod_version in $(( $(date +%s) - start )) s: $prefix" >&2
echo "$prefix"
