#!/usr/bin/env bash
# Smoke test of the frozen bundle (`make smoke`): build it, run `--self-test`, start the GUI offscreen.
#
#   packaging/smoke_test.sh               # build with packaging/build.sh, then test dist/
#   SKIP_BUILD=1 packaging/smoke_test.sh  # test the bundle already in dist/
#
# Fails (exit 1) when the build fails, the self-test does not print "self-test OK: ..." and exit 0, the GUI
# is not alive after GUI_SECONDS (default 5) seconds, does not exit cleanly on SIGTERM, or prints a
# traceback / fatal Qt message. Runs with QT_QPA_PLATFORM=offscreen and a throw-away LANDMARK_TAGGER_HOME,
# so the GUI starts as on a first run (welcome panel) and no user data is touched.
set -uo pipefail

cd "$(dirname "$0")/.."
GUI_SECONDS=${GUI_SECONDS:-5}
export QT_QPA_PLATFORM=offscreen
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
command -v timeout >/dev/null || timeout() { shift; "$@"; }  # macOS without coreutils

case "$(uname -s)" in
    Linux*) APP_DIR="dist/landmark-tagger"; EXE="$APP_DIR/landmark-tagger"; CLI="$APP_DIR/landmark-tagger-cli" ;;
    Darwin*) APP_DIR="dist/Landmark Tagger.app"; EXE="$APP_DIR/Contents/MacOS/Landmark Tagger"
             CLI="$APP_DIR/Contents/MacOS/landmark-tagger-cli" ;;
    *) APP_DIR="dist/Landmark Tagger"; EXE="$APP_DIR/Landmark Tagger.exe"; CLI="$APP_DIR/landmark-tagger-cli.exe" ;;
esac

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    t0=$(date +%s)
    bash packaging/build.sh || fail "build failed"
    echo "smoke: build time $(( $(date +%s) - t0 )) s"
fi
[ -x "$EXE" ] || fail "no executable at $EXE"
echo "smoke: bundle $APP_DIR: $(du -sh "$APP_DIR" | cut -f1), $(find "$APP_DIR" -type f | wc -l) files"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lt-smoke.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LANDMARK_TAGGER_HOME="$TMP/home"

# 1. the self-test (CPU: the result must not depend on the build machine having a GPU)
t0=$SECONDS
timeout 600 "$EXE" --self-test --device cpu >"$TMP/selftest.out" 2>"$TMP/selftest.err"
rc=$?
line=$(head -n 1 "$TMP/selftest.out")
echo "smoke: self-test (rc $rc, $((SECONDS - t0)) s wall incl. start-up): $line"
if [ "$rc" != 0 ] || [[ "$line" != "self-test OK: "* ]]; then
    cat "$TMP/selftest.err" >&2
    fail "self-test failed (rc $rc)"
fi
[ "$(wc -l <"$TMP/selftest.out")" -eq 1 ] || fail "self-test printed more than one line"
if grep -q "Traceback" "$TMP/selftest.err"; then cat "$TMP/selftest.err" >&2; fail "traceback during self-test"; fi

# 2. the command-line executable answers --help
if [ -x "$CLI" ]; then
    "$CLI" --help >"$TMP/cli.out" 2>&1 || { cat "$TMP/cli.out" >&2; fail "landmark-tagger-cli --help failed"; }
    echo "smoke: landmark-tagger-cli --help OK ($(wc -l <"$TMP/cli.out") lines)"
fi

# 3. the GUI: alive after GUI_SECONDS, exits on SIGTERM, no traceback
"$EXE" >"$TMP/gui.log" 2>&1 &
pid=$!
sleep "$GUI_SECONDS"
if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; rc=$?
    cat "$TMP/gui.log" >&2
    fail "GUI exited after less than $GUI_SECONDS s (rc $rc)"
fi
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    cat "$TMP/gui.log" >&2
    fail "GUI still running 10 s after SIGTERM"
fi
wait "$pid"; rc=$?
# 0: the app handles SIGTERM and quits; 143 (128+15): default SIGTERM action. Anything else is a crash.
if [ "$rc" != 0 ] && [ "$rc" != 143 ]; then cat "$TMP/gui.log" >&2; fail "GUI exit status $rc after SIGTERM"; fi
if grep -Eq "Traceback|Fatal Python error|QFATAL|qt.qpa.plugin: Could not|Segmentation fault" "$TMP/gui.log"; then
    cat "$TMP/gui.log" >&2
    fail "error output from the GUI"
fi
echo "smoke: GUI alive after ${GUI_SECONDS} s, exited with status $rc on SIGTERM, $(wc -l <"$TMP/gui.log") log lines, no traceback"
echo "smoke: OK"
