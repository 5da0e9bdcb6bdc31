#!/usr/bin/env bash
# Fail when a committed rendering is out of date with its source: renders everything into a
# temporary directory with wiring/render.sh (same pinned tools) and compares file by file.
#   SVG and BOM TSV must match byte for byte; a PNG must match byte for byte or, failing that,
#   pixel for pixel (a rebuilt libpng/zlib may recompress identical pixels differently).
# Also fails on a rendering whose source is gone, or a source whose rendering is missing.
# Exit 0 = up to date. Fix with: wiring/render.sh, then commit the changed files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$here/render.sh" --out "$tmp" >/dev/null
venv=${PACKGUARD_RENDER_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/packguard/render-venv}

stale=0
report() { echo "STALE: $1"; stale=1; }

same_png() {
    "$venv/bin/python" - "$1" "$2" <<'PY'
import sys
from PIL import Image
a, b = (Image.open(p).convert("RGBA") for p in sys.argv[1:3])
sys.exit(0 if a.size == b.size and a.tobytes() == b.tobytes() else 1)
PY
}

compare_dir() {  # $1 = fresh rendering dir, $2 = committed dir
    local f name committed
    for f in "$1"/*; do
        name=$(basename "$f")
        committed="$2/$name"
        if [ ! -f "$committed" ]; then
            report "${committed#"$repo"/} is missing (not rendered/committed)"
        elif ! cmp -s "$f" "$committed"; then
            case "$name" in
                *.png) same_png "$f" "$committed" || report "${committed#"$repo"/} differs from its source" ;;
                *) report "${committed#"$repo"/} differs from its source" ;;
            esac
        fi
    done
}

compare_dir "$tmp/wiring" "$here"
compare_dir "$tmp/hardware/schematics" "$repo/hardware/schematics"
compare_dir "$tmp/hardware/spice" "$repo/hardware/spice"

# renderings whose source no longer exists
shopt -s nullglob
for f in "$here"/*.svg "$here"/*.png "$here"/*.bom.tsv "$repo"/hardware/schematics/*.svg "$repo"/hardware/spice/*.svg; do
    rel=${f#"$repo"/}
    case "$rel" in
        wiring/*) fresh="$tmp/$rel" ;;
        hardware/schematics/*) fresh="$tmp/$rel" ;;
        hardware/spice/*) fresh="$tmp/$rel" ;;
    esac
    [ -f "$fresh" ] || report "$rel has no source any more"
done

if [ "$stale" -ne 0 ]; then
    echo "check-rendered: renderings are out of date - run wiring/render.sh and commit the result" >&2
    exit 1
fi
echo "check-rendered: all renderings match their sources"
