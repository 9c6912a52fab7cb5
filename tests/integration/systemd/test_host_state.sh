#!/bin/bash
# test_host_state.sh — the fingerprint that the systemd and package tests
# take of the host before and after (host_state in nsroot.sh) over a root
# of files made here: what others do on the host meanwhile (a user added,
# another user's password changed, a package installed) leaves it as it
# was; any change to kaohe's users, groups, group members or paths shows.
set -eu
. "$(dirname -- "$(realpath -- "$0")")/nsroot.sh"

R=$(mktemp -d)
trap 'rm -rf -- "$R"' EXIT
mkdir -p "$R/etc" "$R/var/lib/dpkg" "$R/usr/sbin"
printf 'root:x:0:0:root:/root:/bin/bash\nkaohe:x:998:998:kaohe:/var/lib/kaohe:/usr/sbin/nologin\n' \
	>"$R/etc/passwd"
printf 'root:x:0:\nkaohe:x:998:\nkaohe-bayilu:x:997:\nstaff:x:50:alice\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\nkaohe:!*:19000::::::\n' >"$R/etc/shadow"
printf 'root:*::\nkaohe:!*::\nkaohe-bayilu:!*::\n' >"$R/etc/gshadow"
: >"$R/var/lib/dpkg/status"
echo kaohed >"$R/usr/sbin/kaohed"
export NSROOT_HOST_ROOT=$R

failed=0
expect() { # expect same|changed WHAT
	local now
	now=$(host_state)
	if { [ "$1" = same ] && [ "$now" = "$before" ]; } ||
		{ [ "$1" = changed ] && [ "$now" != "$before" ]; }; then
		echo "ok: $2"
	else
		echo "FAILED: $2 (expected the fingerprint $1)"
		failed=1
	fi
	before=$now
}

before=$(host_state)
grep -q '^kaohe:x:998' <<<"$before" || { echo "FAILED: kaohe's entry not in the fingerprint"; exit 1; }
echo 'bob:x:1001:1001::/home/bob:/bin/sh' >>"$R/etc/passwd"
echo 'bob:x:1001:' >>"$R/etc/group"
sed -i 's/^root:\*:19000/root:$y$new:19500/' "$R/etc/shadow"
sed -i 's/^staff:x:50:alice$/staff:x:50:alice,bob/' "$R/etc/group"
printf 'Package: hello\nStatus: install ok installed\nVersion: 1\n\n' >>"$R/var/lib/dpkg/status"
expect same "another user added, another password changed, a package installed"
sed -i 's/^staff:x:50:alice,bob$/staff:x:50:alice,bob,kaohetest-bayilu/' "$R/etc/group"
expect changed "a kaohe user made a member of another group"
echo 'kaohetest-bayilu:x:1002:1002::/nonexistent:/usr/sbin/nologin' >>"$R/etc/passwd"
expect changed "a kaohe user added"
sed -i 's/^kaohe-bayilu:x:997:$/kaohe-bayilu:x:997:kaohetest-bayilu/' "$R/etc/group"
expect changed "a member added to a kaohe group"
sed -i 's/^kaohe:!\*::/kaohe:!::/' "$R/etc/gshadow"
expect changed "kaohe's group password changed"
echo changed >"$R/usr/sbin/kaohed"
expect changed "/usr/sbin/kaohed rewritten"
exit $failed
