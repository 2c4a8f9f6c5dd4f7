#!/usr/bin/env bash
# Build the one-folder Landmark Tagger bundle with PyInstaller (`make package` runs this).
#
#   packaging/build.sh                  # -> dist/landmark-tagger/ (+ dist/landmark-tagger-<ver>-linux-<arch>[-<flavour>].tar.gz)
#   LT_FLAVOUR=cpu packaging/build.sh   # the CPU-only build (make package FLAVOUR=cpu)
#
# Environment:
#   LT_FLAVOUR=cpu|cuda  which torch the bundle carries (checked before building; empty: whatever PYTHON has):
#                      cpu  = torch's CPU build. Without PYTHON, a build venv .venv-cpu is made from BASE_PYTHON
#                             (default python3) with torch + torchvision from LT_TORCH_INDEX (default
#                             https://download.pytorch.org/whl/cpu; macOS: PyPI, whose wheels are CPU/MPS builds)
#                             and the app + PyInstaller; ~0.9 GB bundle.
#                      cuda = the CUDA build (Linux: what PyPI's torch is), ~4 GB bundle.
#   PYTHON=path        interpreter of the environment to freeze (default: .venv/bin/python, or .venv-cpu's)
#   LT_PACKAGING_TORCHVISION=0  leave torchvision out (set by itself when it cannot be imported; the shipped
#                      MobileNetV2 does not need it)
#   LT_TARBALL=0       skip the Linux tarball;  LT_GZIP_LEVEL=1..9 its gzip level (default 1)
#   LT_NICE=10         niceness of the build (shared build machines); 0 to disable
# Prints the build time and sizes at the end. Everything it writes lies in build/ and dist/ (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
FLAVOUR=${LT_FLAVOUR:-}
NICE=${LT_NICE:-10}
case "$FLAVOUR" in ""|cpu|cuda) ;; *) echo "build.sh: LT_FLAVOUR must be cpu or cuda, not '$FLAVOUR'" >&2; exit 2 ;; esac
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) VBIN=Scripts; VEXE=python.exe ;; *) VBIN=bin; VEXE=python ;; esac

if [ "$FLAVOUR" = cpu ] && [ -z "${PYTHON:-}" ]; then
    # A build environment of its own: the development .venv keeps whatever torch it has.
    PYTHON=".venv-cpu/$VBIN/$VEXE"
    INDEX=${LT_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
    if [ ! -x "$PYTHON" ]; then
        "${BASE_PYTHON:-python3}" -m venv .venv-cpu
        "$PYTHON" -m pip install --quiet --upgrade pip
    fi
    if [ "$(uname -s)" = Darwin ]; then  # PyPI's macOS wheels are the CPU (+MPS) builds
        "$PYTHON" -m pip install --quiet torch torchvision
    else
        "$PYTHON" -m pip install --quiet torch torchvision --index-url "$INDEX" || {
            echo "build.sh: cannot install the CPU build of torch from $INDEX (set LT_TORCH_INDEX to a mirror);" \
                "packaging/README.md keeps the figures measured with the CUDA build" >&2
            exit 1
        }
    fi
    "$PYTHON" -m pip install --quiet -e ".[package]"
fi
PYTHON=${PYTHON:-.venv/bin/python}
SPEC=packaging/landmark_tagger.spec
WORK=build/pyinstaller
DIST=dist

if [ ! -x "$PYTHON" ]; then
    echo "build.sh: no Python at $PYTHON (run 'make install' / create .venv first, or set PYTHON=...)" >&2
    exit 1
fi
# The torch in the build environment decides what the bundle carries: check it is the flavour asked for.
CUDA_VERSION=$("$PYTHON" -c "import torch; print(torch.version.cuda or '')" | tr -d '\r') || {
    echo "build.sh: torch cannot be imported by $PYTHON" >&2; exit 1; }
if [ "$FLAVOUR" = cpu ] && [ -n "$CUDA_VERSION" ]; then
    echo "build.sh: LT_FLAVOUR=cpu but $PYTHON has the CUDA $CUDA_VERSION build of torch" >&2; exit 1
fi
if [ "$FLAVOUR" = cuda ] && [ -z "$CUDA_VERSION" ]; then
    echo "build.sh: LT_FLAVOUR=cuda but $PYTHON has a CPU-only build of torch" >&2; exit 1
fi
FLAVOUR=${FLAVOUR:-$([ -n "$CUDA_VERSION" ] && echo cuda || echo cpu)}
if [ -z "${LT_PACKAGING_TORCHVISION:-}" ] && ! "$PYTHON" -c "import torchvision" >/dev/null 2>&1; then
    # e.g. a CPU torch beside PyPI's CUDA torchvision. The shipped model (MobileNetV2) does not need torchvision.
    echo "build.sh: WARNING: torchvision cannot be imported by $PYTHON; building without it" \
        "(bundles with a backbone other than mobilenet_v2 will not load)" >&2
    export LT_PACKAGING_TORCHVISION=0
fi
echo "build.sh: flavour $FLAVOUR (torch $("$PYTHON" -c "import torch; print(torch.__version__)"))"
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
    tarball="$DIST/landmark-tagger-$VERSION-linux-$ARCH-$FLAVOUR.tar.gz"
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
