#!/bin/bash
# test_package.sh -- kaohe's Debian package installed, started, upgraded,
# removed and purged on a machine booted with systemd: the throw-away root
# of tests/integration/systemd/nsroot.sh (systemd 252 as PID 1 of new
# namespaces over an overlay of this host), with apt and dpkg as an
# administrator runs them.
#
#   test_package.sh DEBDIR
#
# DEBDIR holds kaohe_VERSION_ARCH.deb (tests/package/build_deb.sh's). The
# upgrade is that package again, repacked with dpkg-deb as version
# VERSION+upgradetest1 with a changed plan-2020.conf: its maintainer scripts
# and files are the ones a newer build would carry, which is what dpkg's
# upgrade path works on.
#
# 1. The root gets no file of kaohe: a copy that `cmake --install` or an
#    installed package left on this host is removed from it first, and so
#    is a container image's /usr/sbin/policy-rc.d, which would forbid every
#    service action of the maintainer scripts.
# 2. `apt-get install ./kaohe_VERSION_ARCH.deb`: every file where the unit
#    and the manual expect it, owned by the package (dpkg -S); the
#    conffiles; the kaohe user and groups, /var/lib/kaohe (tmpfiles); the
#    unit enabled and not started; `man -w` finds the pages; the shipped
#    configuration checks.
# 3. The administrator edits /etc/kaohe/kaohe.conf, then `systemctl enable
#    --now kaohed`; a finding is recorded through kaohectl.
# 4. `dpkg -i` of the upgrade, with no answer to give: the edited
#    kaohe.conf is kept, the unedited plan-2020.conf replaced by the new
#    one, no .dpkg-* file left; the running daemon restarted on the new
#    package with the finding still in its database.
# 5. `apt-get remove`: the daemon stopped, the binaries and the unit gone;
#    /var/lib/kaohe with the database and /etc/kaohe kept.
# 6. `dpkg --purge`: /var/lib/kaohe and /etc/kaohe gone, the unit's
#    enablement forgotten; the kaohe user stays (Debian's rule).
# 7. The host after teardown: nsroot.sh's checks, and its dpkg database
#    untouched.
#
# Prints each check as ok/FAIL and "package: N passed, M failed". Exits 0
# when every check passed, 1 when one failed, 2 on bad arguments, 77 when
# this machine cannot run it (not root, no systemd, no overlayfs or cgroup2).
set -u

NSROOT_NAME=kaohe-package
NSROOT_LABEL=package
NSROOT_HOST_PATHS=(/usr/lib/tmpfiles.d/kaohe.conf /usr/share/kaohe
	/usr/share/man/man8/kaohed.8.gz /etc/systemd/system/multi-user.target.wants/kaohed.service)
. "$(dirname -- "$(realpath -- "$0")")/../integration/systemd/nsroot.sh"
START_TIMEOUT=30
SOCK=/run/kaohe/control.sock
DEBS=/var/cache/kaohe-test # in the root

# Everything of kaohe a `cmake --install` of ./run leaves on a host, which
# the root must not have before the package brings it.
KAOHE_PATHS="/usr/sbin/kaohed /usr/bin/kaohectl /lib/systemd/system/kaohed.service
/usr/lib/sysusers.d/kaohe.conf /usr/lib/tmpfiles.d/kaohe.conf /etc/kaohe /usr/share/kaohe
/usr/share/man/man8/kaohed.8 /usr/share/man/man8/kaohectl.8 /usr/share/man/man5/kaohe.conf.5
/usr/share/man/man8/kaohed.8.gz /usr/share/man/man8/kaohectl.8.gz
/usr/share/man/man5/kaohe.conf.5.gz /var/lib/kaohe
/etc/systemd/system/multi-user.target.wants/kaohed.service"

nsroot_populate() {
	local R=$1 p
	for p in $KAOHE_PATHS; do rm -rf -- "${R:?}$p"; done
	# A container image's policy-rc.d (Docker's denies every service action)
	# is no part of a machine booted with systemd.
	rm -f -- "$R/usr/sbin/policy-rc.d"
	mkdir -p "$R$DEBS"
	cp -- "$T"/debs/*.deb "$R$DEBS/"
}

# The upgrade: the package as a newer version whose plan-2020.conf changed.
nsroot_host_setup() {
	local x=$T/repack
	mkdir -p "$T/debs" "$x"
	cp -- "$DEB" "$T/debs/"
	dpkg-deb -R "$DEB" "$x"
	sed -i "s/^Version: .*/Version: $UPGRADE_VERSION/" "$x/DEBIAN/control"
	echo "# $UPGRADE_VERSION: this line is new" >>"$x/etc/kaohe/plan-2020.conf"
	(cd "$x" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum >DEBIAN/md5sums)
	dpkg-deb --root-owner-group -Zxz -b "$x" "$T/debs/kaohe_${UPGRADE_VERSION}_$ARCH.deb" >/dev/null
	cp -- "$x/etc/kaohe/plan-2020.conf" "$T/plan-2020.conf.upgrade"
	rm -rf -- "$x"
}

nsroot_dispatch "$@"

# --- on the host ---------------------------------------------------------------
if [ $# -ne 1 ]; then
	echo "usage: $0 DEBDIR" >&2
	exit 2
fi
shopt -s nullglob
debs=("$1"/kaohe_*.deb)
shopt -u nullglob
if [ ${#debs[@]} -ne 1 ]; then
	echo "expected one kaohe_*.deb in $1 (tests/package/build_deb.sh), found ${#debs[@]}" >&2
	exit 2
fi
DEB=$(realpath -- "${debs[0]}")
VERSION=$(dpkg-deb -f "$DEB" Version)
ARCH=$(dpkg-deb -f "$DEB" Architecture)
UPGRADE_VERSION=$VERSION+upgradetest1
export DEB VERSION ARCH UPGRADE_VERSION DEBS KAOHE_PATHS
nsroot_preflight
command -v dpkg-deb >/dev/null || skip "dpkg-deb not found"
nsroot_start
nsroot_boot

# in the root: dpkg and apt as an administrator runs them, answering nothing
pkg() { inns env DEBIAN_FRONTEND=noninteractive "$@" </dev/null; }
st() { inns stat -c '%a %U %G %F' "$1" 2>/dev/null; }
status() { inns dpkg-query -W -f='${db:Status-Abbrev}${Version}' kaohe 2>/dev/null; }
# state of the unit: ActiveState/UnitFileState
unit() { echo "$(prop ActiveState)/$(prop UnitFileState)"; }

# --- before -------------------------------------------------------------------
if [ -n "$(status)" ]; then
	echo "     this host has kaohe installed ($(status)): purged in the root first"
	pkg dpkg --purge kaohe >/dev/null
fi
check "before: no kaohe package and no kaohe file in the root" \
	eval '[ -z "$(status)" ] && ! inns ls -d $KAOHE_PATHS 2>/dev/null | grep -q .'

# --- install ------------------------------------------------------------------
t0=$SECONDS
out=$(pkg apt-get install -y "$DEBS/kaohe_${VERSION}_$ARCH.deb" 2>&1)
rc=$?
check "install: apt-get install ./kaohe_${VERSION}_$ARCH.deb exits 0 ($((SECONDS - t0)) s)" \
	test $rc -eq 0
[ $rc -eq 0 ] || tail -c 2000 <<<"$out" | sed 's/^/     /'
check "install: kaohe $VERSION is installed (ii)" test "$(status)" = "ii $VERSION"

# Where the unit expects its files: ExecStart's binary and configuration,
# ExecReload's kill, and what ExecPaths= allows to run.
exec_start=$(prop ExecStart)
echo "     ExecStart=$exec_start"
check "files: the unit runs /usr/sbin/kaohed -c /etc/kaohe/kaohe.conf" \
	eval '[[ $exec_start == *"path=/usr/sbin/kaohed ;"*"argv[]=/usr/sbin/kaohed -c /etc/kaohe/kaohe.conf ;"* ]]'
check "files: the unit is /lib/systemd/system/kaohed.service, without drop-ins" \
	test "$(prop FragmentPath)/$(prop DropInPaths)" = /lib/systemd/system/kaohed.service/
owned=1
for f in /usr/sbin/kaohed /usr/bin/kaohectl /lib/systemd/system/kaohed.service \
	/usr/lib/sysusers.d/kaohe.conf /usr/lib/tmpfiles.d/kaohe.conf /etc/kaohe/kaohe.conf \
	/etc/kaohe/plan-2020.conf /usr/share/man/man8/kaohed.8.gz /usr/share/man/man8/kaohectl.8.gz \
	/usr/share/man/man5/kaohe.conf.5.gz /usr/share/doc/kaohe/copyright; do
	if ! inns test -f "$f" || [ "$(inns dpkg -S "$f" 2>/dev/null)" != "kaohe: $f" ]; then
		owned=
		echo "     $f: missing, or not the package's ($(inns dpkg -S "$f" 2>&1))"
	fi
done
check "files: binaries, unit, sysusers, tmpfiles, configuration, manual pages there, each the package's (dpkg -S)" \
	test -n "$owned"
check "files: /usr/sbin/kaohed and /usr/bin/kaohectl are 0755 root" \
	eval '[ "$(st /usr/sbin/kaohed)" = "755 root root regular file" ] &&
		[ "$(st /usr/bin/kaohectl)" = "755 root root regular file" ]'
check "files: ExecReload's /bin/kill is there (procps)" inns test -x /bin/kill
cals=$(cd "$(dirname -- "$(realpath -- "$0")")/../../config/calendars" && ls -- *.conf | tr '\n' ' ')
check "files: /usr/share/kaohe/calendars holds the shipped calendars ($cals)" \
	test "$(inns sh -c 'cd /usr/share/kaohe/calendars && ls -- *.conf' | tr '\n' ' ')" = "$cals"
check "files: man -w finds kaohed(8), kaohectl(8), kaohe.conf(5)" \
	eval '[ "$(inns man -w kaohed kaohectl kaohe.conf 2>/dev/null | tr "\n" " ")" = \
		"/usr/share/man/man8/kaohed.8.gz /usr/share/man/man8/kaohectl.8.gz /usr/share/man/man5/kaohe.conf.5.gz " ]'
conffiles=$(inns dpkg-query -W -f='${Conffiles}\n' kaohe | awk 'NF { print $1 }' | sort | tr '\n' ' ')
check "files: the conffiles are /etc/kaohe/kaohe.conf and plan-2020.conf ($conffiles)" \
	test "$conffiles" = "/etc/kaohe/kaohe.conf /etc/kaohe/plan-2020.conf "
check "users: kaohe and the access groups exist (sysusers)" \
	eval 'inns getent passwd kaohe >/dev/null && inns getent group kaohe-admin kaohe-bayilu >/dev/null'
check "files: /var/lib/kaohe is 0750 kaohe (tmpfiles, before any start)" \
	test "$(st /var/lib/kaohe)" = "750 kaohe kaohe directory"
check "unit: enabled and not started (inactive/enabled)" test "$(unit)" = inactive/enabled
check "version: kaohed -V says $VERSION" test "$(inns kaohed -V)" = "kaohed $VERSION"
check "config: the shipped configuration checks (kaohed --check)" \
	eval 'inns kaohed -c /etc/kaohe/kaohe.conf --check 2>/dev/null | grep -qx "configuration OK"'

# --- the administrator's configuration, and the start ----------------------------
inns sed -i -e 's/^  log_level = "info";/  log_level = "debug";/' \
	-e '1i # Edited by the administrator before the first start.' /etc/kaohe/kaohe.conf
edited=$(inns sha256sum /etc/kaohe/kaohe.conf)
check "config: the edit is in place and checks" \
	eval 'inns grep -q "log_level = \"debug\"" /etc/kaohe/kaohe.conf &&
		inns kaohed -c /etc/kaohe/kaohe.conf --check 2>/dev/null | grep -qx "configuration OK"'
check "start: systemctl enable --now kaohed exits 0" \
	inns timeout "$START_TIMEOUT" systemctl enable --now kaohed.service
check "start: active/enabled" test "$(unit)" = active/enabled
pid=$(prop MainPID)
check "start: kaohectl ping answers" eval 'inns kaohectl -s $SOCK ping >/dev/null'
out=$(inns kaohectl -s $SOCK record baiyun 6c pushback 1 --note "before the upgrade" 2>&1)
rc=$?
check "start: a finding recorded (kaohectl record)" test $rc -eq 0
[ $rc -eq 0 ] || echo "     exit $rc: ${out:0:300}"
check "start: the database is 0600 kaohe in /var/lib/kaohe" \
	test "$(st /var/lib/kaohe/kaohe.db)" = "600 kaohe kaohe regular file"

# --- upgrade --------------------------------------------------------------------
t0=$SECONDS
out=$(pkg dpkg -i "$DEBS/kaohe_${UPGRADE_VERSION}_$ARCH.deb" 2>&1)
rc=$?
check "upgrade: dpkg -i kaohe_${UPGRADE_VERSION}_$ARCH.deb exits 0, asking nothing ($((SECONDS - t0)) s)" \
	test $rc -eq 0
[ $rc -eq 0 ] || tail -c 2000 <<<"$out" | sed 's/^/     /'
check "upgrade: kaohe $UPGRADE_VERSION is installed (ii)" test "$(status)" = "ii $UPGRADE_VERSION"
check "upgrade: the edited kaohe.conf is kept, byte for byte" \
	test "$(inns sha256sum /etc/kaohe/kaohe.conf)" = "$edited"
check "upgrade: the unedited plan-2020.conf is the new package's" \
	eval 'cmp -s "$T/plan-2020.conf.upgrade" <(inns cat /etc/kaohe/plan-2020.conf)'
leftover=$(inns find /etc/kaohe -name '*.dpkg-*' | tr '\n' ' ')
check "upgrade: no .dpkg-dist, .dpkg-old or .dpkg-new left in /etc/kaohe ($leftover)" \
	test -z "$leftover"
newpid=$(prop MainPID)
check "upgrade: the running daemon was restarted (try-restart): active/enabled, a new MainPID" \
	eval '[ "$(unit)" = active/enabled ] && [ -n "$newpid" ] && [ "$newpid" != 0 ] &&
		[ "$newpid" != "$pid" ]'
check "upgrade: the finding recorded before is in the database" \
	eval 'inns kaohectl -s $SOCK --json explain baiyun 6c | grep -q "before the upgrade"'
check "upgrade: the daemon runs the edited configuration (log_level debug)" \
	eval 'inns journalctl --no-pager -t kaohed -p debug..debug -o cat | grep -q .'

# --- remove ---------------------------------------------------------------------
t0=$SECONDS
out=$(pkg apt-get remove -y kaohe 2>&1)
rc=$?
check "remove: apt-get remove kaohe exits 0 ($((SECONDS - t0)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -c 2000 <<<"$out" | sed 's/^/     /'
check "remove: kaohe is removed, its conffiles kept (rc)" test "$(status)" = "rc $UPGRADE_VERSION"
check "remove: the daemon is stopped" eval '! inns kill -0 "$newpid" 2>/dev/null'
check "remove: the binaries and the unit are gone" \
	eval '! inns ls /usr/sbin/kaohed /usr/bin/kaohectl /lib/systemd/system/kaohed.service 2>/dev/null | grep -q .'
check "remove: /var/lib/kaohe and its database are kept" \
	test "$(st /var/lib/kaohe/kaohe.db)" = "600 kaohe kaohe regular file"
check "remove: the edited /etc/kaohe/kaohe.conf is kept" \
	test "$(inns sha256sum /etc/kaohe/kaohe.conf)" = "$edited"

# --- purge ----------------------------------------------------------------------
out=$(pkg dpkg --purge kaohe 2>&1)
rc=$?
check "purge: dpkg --purge kaohe exits 0" test $rc -eq 0
[ $rc -eq 0 ] || tail -c 2000 <<<"$out" | sed 's/^/     /'
check "purge: kaohe is unknown to dpkg" test -z "$(status)"
check "purge: /var/lib/kaohe is gone" eval '! inns test -e /var/lib/kaohe'
check "purge: /etc/kaohe is gone" eval '! inns test -e /etc/kaohe'
check "purge: the unit's enablement is gone" \
	eval '! inns test -e /etc/systemd/system/multi-user.target.wants/kaohed.service &&
		! inns test -e /var/lib/systemd/deb-systemd-helper-enabled/kaohed.service.dsh-also'
check "purge: the kaohe user stays" eval 'inns getent passwd kaohe >/dev/null'

finish
