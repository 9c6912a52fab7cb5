#!/bin/bash
# lintian.sh -- lintian on the packages build_deb.sh left in OUTDIR.
#
#   lintian.sh OUTDIR
#
# Checks the binary package (through the .changes) and the source package
# (the .dsc) at every level down to pedantic, and prints every tag with the
# overrides and their reasons. Fails on any error or warning, and on an
# override that no longer matches anything (debian/kaohe.lintian-overrides,
# debian/source/lintian-overrides), so that none outlives its reason.
# Exits 0 when clean, 1 otherwise, 2 on bad arguments, 77 without lintian.
set -uo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
command -v lintian >/dev/null || {
	echo "lintian: SKIPPED: lintian not found (apt-get install lintian)" >&2
	exit 77
}
shopt -s nullglob
files=("$1"/kaohe_*.changes "$1"/kaohe_*.dsc)
if [ ${#files[@]} -ne 2 ]; then
	echo "lintian: expected one .changes and one .dsc in $1, found: ${files[*]:-none}" >&2
	exit 2
fi

t0=$SECONDS
# Lintian warns that it runs as root; the warning is not a finding.
report=$(lintian --display-info --pedantic --display-experimental --show-overrides \
	--fail-on error,warning "${files[@]}" 2>&1)
rc=$?
report=$(grep -v '^running with root privileges is not recommended!$' <<<"$report")
[ -n "$report" ] && printf '%s\n' "$report"
fail=0
if [ $rc -ne 0 ]; then
	echo "lintian: errors or warnings (exit $rc)"
	fail=1
fi
if grep -Eq '(unused|mismatched)-override' <<<"$report"; then
	echo "lintian: an override matches nothing: remove it, or fix what it should match"
	fail=1
fi
echo "lintian: $(grep -c '^[EWIPX]: ' <<<"$report") tags, $(grep -c '^O: ' <<<"$report") overridden" \
	"($((SECONDS - t0)) s)"
exit $fail
