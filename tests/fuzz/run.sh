#!/bin/sh
# run.sh BUILD_DIR [SECONDS] — build the libFuzzer targets with clang in
# BUILD_DIR and run each for SECONDS (default 60) on a writable copy of the
# seed corpus (BUILD_DIR/fuzz-corpus/NAME; the repository's corpus is only
# read).  Exits non-zero on any crash, leak, timeout or out-of-memory, and
# prints where the input that caused it was written.
#
# Environment:
#   CC                    the compiler (default clang)
#   FUZZ_TIMEOUT          seconds one input may take (default 25)
#   FUZZ_TARGETS          which targets (default "fuzz_command fuzz_config")
#   KAOHE_FUZZ_TERMINATE  see fuzz_command.c (passed through)
#   LSAN_OPTIONS, UBSAN_OPTIONS  added to (lsan.supp, print_stacktrace=1)
#
# The source tree is the one this script lives in (../.. from here).
set -eu

usage() {
	echo "usage: $0 BUILD_DIR [SECONDS]" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
BUILD=$1
SECONDS_EACH=${2:-60}
case $SECONDS_EACH in
'' | *[!0-9]*) usage ;;
esac
TIMEOUT=${FUZZ_TIMEOUT:-25}
TARGETS=${FUZZ_TARGETS:-"fuzz_command fuzz_config"}

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)

echo "== configuring $BUILD (source $SRC)"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER="${CC:-clang}" -DKAOHE_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/fuzz-cmake.log" 2>&1 || {
	cat "$BUILD/fuzz-cmake.log" >&2
	echo "run.sh: cmake failed" >&2
	exit 1
}
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS -j"$(nproc 2>/dev/null || echo 2)" || {
	echo "run.sh: build failed (is tests/fuzz added to the top CMakeLists.txt when KAOHE_FUZZ is on?)" >&2
	exit 1
}

# Lines just under, at and over the 64 KiB request limit (COMMAND_MAX_LINE):
# too large to keep in the repository, cheap to make.
long_lines() {
	dir=$1
	/usr/bin/python3 - "$dir" <<'EOF'
import sys
d = sys.argv[1]
def put(name, b):
    open(f"{d}/{name}", "wb").write(b)
pad = lambda head, n, fill=b"a": head + fill * (n - len(head))
put("gen-65535", pad(b"submit bayilu ", 65535))
put("gen-65536", pad(b"submit bayilu ", 65536))
put("gen-65537", pad(b"submit bayilu ", 65537))
put("gen-long-utf8-unit", b"status " + "八一路".encode() * 3000)
put("gen-long-word-cut", b"submit " + b"x" * 2040 + "街道".encode() * 10)
put("gen-64-words", b" ".join([b"audit"] + [b"w%d" % i for i in range(63)]))
put("gen-65-words", b" ".join([b"audit"] + [b"w%d" % i for i in range(64)]))
EOF
}

# Third-party leaks (lsan.supp) are not kaohe's; stacks for UBSan reports.
LSAN_OPTIONS="suppressions=$HERE/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS UBSAN_OPTIONS

status=0
for t in $TARGETS; do
	case $t in
	fuzz_command) corpus=command extra="-max_len=70000" ;;
	fuzz_config) corpus=config extra="" ;;
	*) echo "run.sh: unknown target $t" >&2; exit 2 ;;
	esac
	bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -n 1)
	[ -n "$bin" ] || { echo "run.sh: $t was not built" >&2; exit 1; }
	work="$BUILD/fuzz-corpus/$corpus"
	art="$BUILD/fuzz-artifacts/$t"
	log="$BUILD/fuzz-$t.log"
	mkdir -p "$work" "$art"
	cp -n "$SRC/tests/fuzz/corpus/$corpus/"* "$work/" 2>/dev/null || true
	[ "$t" = fuzz_command ] && long_lines "$work"
	dict=""
	[ -f "$HERE/$corpus.dict" ] && dict="-dict=$HERE/$corpus.dict"
	before=$(ls "$art" | wc -l)

	echo "== $t for ${SECONDS_EACH}s (corpus $work, log $log)"
	# A directory of its own: whatever a target might create by a relative
	# path lands there.
	mkdir -p "$BUILD/fuzz-cwd/$t"
	cd "$BUILD/fuzz-cwd/$t"
	set +e
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout="$TIMEOUT" \
		-print_final_stats=1 -artifact_prefix="$art/" $extra $dict "$work" \
		</dev/null >"$log" 2>&1
	rc=$?
	set -e
	cd "$BUILD"
	grep -E '^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' "$log" || true
	if [ $rc -ne 0 ]; then
		status=1
		echo "!! $t FAILED (exit $rc); log: $log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+: |ALARM|.*runtime error)' "$log" | head -n 20 >&2 || true
		grep -E 'Test unit written to|artifact_prefix' "$log" | sed 's/^/!! /' >&2 || true
		for f in $(ls -t "$art" | head -n $(( $(ls "$art" | wc -l) - before ))); do
			echo "!! crash input: $art/$f" >&2
		done
	else
		echo "== $t OK"
	fi
done
exit $status
