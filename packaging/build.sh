#!/usr/bin/env bash
# Build the one-folder Landmark Tagger bundle with PyInstaller (`make package` runs this).
#
#   packaging/build.sh            # -> dist/landmark-tagger/ (+ dist/landmark-tagger-<ver>-linux-<arch>.tar.gz)
#
# Environment:
#   PYTHON=path        interpreter of the environment to freeze (default: .venv/bin/python)
#   LT_TARBALL=0       skip the Linux tarball;  LT_GZIP_LEVEL=1..9 its gzip level (default 1)
#   LT_NICE=10         niceness of the build (shared build machines); 0 to disable
# Prints the build time and sizes at the end. Everything it writes lies in build/ and dist/ (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-.venv/bin/python}
NICE=${LT_NICE:-10}
SPEC=packaging/landmark_tagger.spec
WORK=build/pyinstaller
DIST=dist

if [ ! -x "$PYTHON" ]; then
    echo "build.sh: no Python at $PYTHON (run 'make install' / create .venv first, or set PYTHON=...)" >&2
    exit 1
fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: installing PyInstaller (the 'package' extra) into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet 'pyinstaller>=6.5'
fi
for required in resources/models/landmarks-mobilenet_v2.safetensors resources/landmarks.json; do
    [ -f "$required" ] || { echo "build.sh: missing $required" >&2; exit 1; }
done

case "$(uname -s)" in
    Linux*) APP_DIR="$DIST/landmark-tagger"; EXE="$APP_DIR/landmark-tagger"; OS=linux ;;
    Darwin*) APP_DIR="$DIST/Landmark Tagger.app"; EXE="$APP_DIR/Contents/MacOS/Landmark Tagger"; OS=macos ;;
    MINGW*|MSYS*|CYGWIN*) APP_DIR="$DIST/Landmark Tagger"; EXE="$APP_DIR/Landmark Tagger.exe"; OS=windows ;;
    *) echo "build.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
VERSION=$("$PYTHON" -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
ARCH=$(uname -m)

start=$(date +%s)
rm -rf "$WORK" "$APP_DIR" "$DIST/Landmark Tagger" "$DIST/landmark-tagger"
run=("$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath "$WORK" "$SPEC")
if [ "$NICE" != 0 ] && command -v nice >/dev/null; then run=(nice -n "$NICE" "${run[@]}"); fi
echo "build.sh: ${run[*]}"
"${run[@]}"

# Byte-code caches written while building (never needed: the bundle's modules live in its PYZ archive).
find "$APP_DIR" -name __pycache__ -type d -prune -exec rm -rf {} +
[ -e "$EXE" ] || { echo "build.sh: expected executable $EXE is missing" >&2; exit 1; }
built=$(date +%s)

tarball=""
if [ "$OS" = linux ] && [ "${LT_TARBALL:-1}" != 0 ]; then
    tarball="$DIST/landmark-tagger-$VERSION-linux-$ARCH.tar.gz"
    rm -f "$tarball"
    # Level 1: CUDA fatbins barely compress (-6 is 2 % smaller and twice as slow: ~8 min for 4 GB here).
    level=${LT_GZIP_LEVEL:-1}
    if command -v pigz >/dev/null; then gz="pigz -$level"; else gz="gzip -$level"; fi
    niceness=(); if [ "$NICE" != 0 ] && command -v nice >/dev/null; then niceness=(nice -n "$NICE"); fi
    "${niceness[@]}" tar -C "$DIST" -I "$gz" -cf "$tarball" landmark-tagger
fi
end=$(date +%s)

echo "build.sh: built $APP_DIR in $((built - start)) s (tarball $((end - built)) s)"
echo "build.sh: bundle size $(du -sh "$APP_DIR" | cut -f1) ($(find "$APP_DIR" -type f | wc -l) files)"
if [ -n "$tarball" ]; then echo "build.sh: tarball $tarball $(du -sh "$tarball" | cut -f1)"; fi
echo "build.sh: run it: \"$ROOT/$EXE\"  (self-check: \"$ROOT/$EXE\" --self-test)"
