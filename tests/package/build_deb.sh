#!/bin/bash
# build_deb.sh -- build kaohe's Debian packages from a clean copy of the
# source tree, as `dpkg-buildpackage -us -uc -b` does in a checkout.
#
#   build_deb.sh SRCDIR OUTDIR
#
# 1. Copies SRCDIR into a temporary kaohe-VERSION/ (VERSION from
#    debian/changelog): the files git tracks there and the untracked ones it
#    does not ignore, so no build tree, state or earlier package build comes
#    along; without git, everything but build*/, state/ and .git.
# 2. Runs `dpkg-buildpackage -us -uc -b` there, parallel on every core; its
#    unit tests included (debian/rules says which).
# 3. Builds the source package too (dpkg-source -b), for lintian's checks
#    of debian/.
# 4. Leaves in OUTDIR (emptied first): kaohe_VERSION_ARCH.deb, the dbgsym
#    package, the .changes and .buildinfo, the .dsc and its tarball, and
#    build.log.
#
# Exits 0 when both packages were built, 1 when a build failed (the end of
# its log is printed), 2 on bad arguments, 77 when dpkg-buildpackage or
# debhelper is missing.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SRCDIR OUTDIR" >&2
	exit 2
fi
src=$(realpath -- "$1")
out=$2
[ -f "$src/debian/changelog" ] || {
	echo "$src/debian/changelog not found" >&2
	exit 2
}
for c in dpkg-buildpackage dpkg-source dh; do
	command -v $c >/dev/null || {
		echo "package: SKIPPED: $c not found (apt-get install dpkg-dev debhelper)" >&2
		exit 77
	}
done

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -SVersion)
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
tree=$tmp/kaohe-$version
mkdir "$tree"
if git -C "$src" rev-parse --show-toplevel 2>/dev/null | grep -qxF "$src"; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		(cd "$src" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		(cd "$src" && xargs -0 -r cp --parents -t "$tree")
else
	tar -C "$src" --exclude='./build*' --exclude=./state --exclude=./.git -cf - . |
		tar -C "$tree" -xf -
fi

mkdir -p "$out"
out=$(realpath -- "$out")
rm -rf -- "$out"/kaohe[_-]* "$out/build.log"
t0=$SECONDS
echo "package: building kaohe $version in $tree"
if ! (cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log"
	echo "package: dpkg-buildpackage failed (log: $out/build.log)"
	exit 1
fi
(cd "$tree" && debian/rules clean) >>"$out/build.log" 2>&1
if ! (cd "$tmp" && dpkg-source -b "kaohe-$version") >>"$out/build.log" 2>&1; then
	tail -n 20 "$out/build.log"
	echo "package: dpkg-source failed (log: $out/build.log)"
	exit 1
fi
find "$tmp" -maxdepth 1 -type f -name 'kaohe[_-]*' -exec mv -t "$out" -- {} +
echo "package: built in $((SECONDS - t0)) s:"
ls -l "$out"
