#!/bin/bash
# check.sh -- lint systemd/kaohed.service and systemd/kaohe.sysusers.
#
#   check.sh [KAOHED]
#
# 1. `systemd-analyze verify` must print nothing. verify insists that the
#    ExecStart= binary exists, so the unit is checked through a copy in which
#    /usr/sbin/kaohed is replaced by KAOHED (default /usr/sbin/kaohed). Pass
#    the kaohed of a build tree to check before installing.
# 2. `systemd-analyze security --offline=yes` on the unit as shipped must
#    report an overall exposure of at most MAX_EXPOSURE (1.2). The script
#    prints the number.
# 3. `systemd-sysusers --dry-run` must accept kaohe.sysusers.
#
# Exits 0 when every check passes and 1 otherwise. It needs neither a booted
# systemd nor root: --offline reads the unit file itself.
set -u

MAX_EXPOSURE=1.2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit=$here/kaohed.service
sysusers=$here/kaohe.sysusers
kaohed=${1:-/usr/sbin/kaohed}

# Plain, stable output: no colours, no pager.
export SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat LC_ALL=C

fail=0
failed() {
	echo "FAIL: $*" >&2
	fail=1
}

if ! command -v systemd-analyze >/dev/null; then
	echo "FAIL: systemd-analyze not found" >&2
	exit 1
fi

case $kaohed in
/*) ;;
*) kaohed=$(realpath -- "$kaohed") ;;
esac
if [ ! -x "$kaohed" ]; then
	echo "FAIL: $kaohed is not an executable file" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# --- 1. verify -------------------------------------------------------------
# The copy keeps the unit's name, because verify derives the unit name from
# the file name.
sed "s|/usr/sbin/kaohed|$kaohed|g" "$unit" >"$tmp/kaohed.service"
out=$(systemd-analyze verify --man=no "$tmp/kaohed.service" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	failed "systemd-analyze verify (exit $rc) printed:"
	printf '%s\n' "$out" >&2
else
	echo "verify: clean (ExecStart=$kaohed)"
fi

# --- 2. security exposure --------------------------------------------------
out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
rc=$?
exposure=$(printf '%s\n' "$out" |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
if [ $rc -ne 0 ] || [ -z "$exposure" ]; then
	failed "systemd-analyze security (exit $rc) gave no exposure level:"
	printf '%s\n' "$out" >&2
elif awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
	echo "exposure: $exposure (limit $MAX_EXPOSURE)"
else
	failed "exposure $exposure is above $MAX_EXPOSURE; the exposed settings are:"
	printf '%s\n' "$out" | grep -E '[0-9]\.[0-9][[:space:]]*$' | grep -v 'Overall' >&2
fi

# --- 3. sysusers -----------------------------------------------------------
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$tmp/root/etc"
	out=$(systemd-sysusers --root="$tmp/root" "$sysusers" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q '^kaohe:' "$tmp/root/etc/passwd" 2>/dev/null; then
		failed "systemd-sysusers (exit $rc) rejected $sysusers:"
		printf '%s\n' "$out" >&2
	else
		echo "sysusers: $(grep -c . "$tmp/root/etc/group") groups, user kaohe"
	fi
else
	echo "sysusers: systemd-sysusers not found, skipped"
fi

exit $fail
