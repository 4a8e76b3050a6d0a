#!/usr/bin/env bash
# The Debian package, end to end: tools/mkdeb.sh builds it (lintian must report no error), dpkg
# installs it into a scratch root (dpkg --root with chrootless maintainer scripts, which honour
# DPKG_ROOT), and the installed mpsd checks the installed configuration there. Nothing outside
# the scratch root is touched: not the host's /etc, users, dpkg database or services.
#   MPSD_DEB_BUILD  the build dir mkdeb.sh uses      DEB_OUT  where the .deb and lintian.txt go
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${DEB_OUT:?}
export MPSD_DEB_BUILD=${MPSD_DEB_BUILD:?}
S=$(mktemp -d /tmp/mpsd-pkgroot.XXXXXX)
trap 'rm -rf "$S"' EXIT
chmod 755 "$S"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

host_user_before=$(getent passwd mpsd || true)
host_etc_before=$([ -e /etc/mpsd ] && echo yes || echo no)

step "tools/mkdeb.sh"
deb=$(MPSD_NO_SETUP=1 "$top/tools/mkdeb.sh" "$out" | tail -n 1) || fail "mkdeb.sh failed"
[ -f "$deb" ] || fail "mkdeb.sh printed no package ($deb)"
[ -f "$out/lintian.txt" ] || fail "no lintian report"
if grep -q '^E: ' "$out/lintian.txt"; then
  cat "$out/lintian.txt"
  fail "lintian reported errors"
fi
echo "lintian: $(grep -c '^W: ' "$out/lintian.txt" || true) warnings, no errors"
dpkg-deb --field "$deb" Version | grep -qx "$(sed -n "s/^ *version : '\(.*\)',/\1/p" "$top/meson.build")-[0-9]*" ||
  fail "package version is not meson.build's project version"

step "dpkg --root=$S -i"
mkdir -p "$S/var/lib/dpkg/info" "$S/var/lib/dpkg/updates" "$S/var/lib/dpkg/triggers" "$S/etc"
: >"$S/var/lib/dpkg/status"
: >"$S/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$S/etc/passwd"
printf 'root:x:0:\n' >"$S/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$S/etc/shadow"
printf 'root:*::\n' >"$S/etc/gshadow"
dpkgr=(dpkg "--root=$S" --force-script-chrootless --force-not-root --log=/dev/null)
# the package's library dependencies are the host's, not in the scratch root's database
"${dpkgr[@]}" --force-depends -i "$deb" || fail "dpkg -i failed"

for f in usr/sbin/mpsd usr/bin/mpsd-passwd usr/bin/mpsd-certs usr/bin/amtsim \
         lib/systemd/system/mpsd.service etc/mpsd/mpsd.conf usr/share/doc/mpsd/copyright \
         usr/share/doc/mpsd/changelog.Debian.gz usr/share/man/man8/mpsd.8.gz \
         etc/mpsd/credentials etc/mpsd/users etc/mpsd/certs/server.pem etc/mpsd/certs/server.key \
         etc/mpsd/certs/ca.pem; do
  [ -e "$S/$f" ] || fail "/$f is not installed"
done
"${dpkgr[@]}" --status mpsd | grep -qx 'Status: install ok installed' || fail "mpsd is not configured"
grep -qx '/etc/mpsd/mpsd.conf' "$S/var/lib/dpkg/info/mpsd.conffiles" || fail "mpsd.conf is no conffile"
uid=$(awk -F: '$1 == "mpsd" { print $3 }' "$S/etc/passwd")
gid=$(awk -F: '$1 == "mpsd" { print $3 }' "$S/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || fail "postinst made no user and group mpsd in the scratch root"
awk -F: '$1 == "mpsd" && $7 == "/usr/sbin/nologin" && $3 < 1000 { ok = 1 } END { exit !ok }' \
  "$S/etc/passwd" || fail "mpsd is not a system user without a shell"
if [ "$(id -u)" = 0 ]; then
  want="0:$gid:640" got=$(stat -c %u:%g:%a "$S/etc/mpsd/certs/server.key")
else # postinst cannot chown in a root of ours without being root
  want=640 got=$(stat -c %a "$S/etc/mpsd/certs/server.key")
fi
[ "$got" = "$want" ] || fail "server.key is $got, want $want"
[ "$(stat -c %a "$S/etc/mpsd/certs/ca.key")" = 600 ] || fail "ca.key is not 0600"
openssl x509 -in "$S/etc/mpsd/certs/server.pem" -noout -subject | grep -q 'CN = localhost$' ||
  fail "the server certificate is not for the config's name (localhost)"

step "mpsd --check-config /etc/mpsd/mpsd.conf in the root"
if [ "$(id -u)" = 0 ] && mkdir -p "$S/dev" && mknod -m 666 "$S/dev/urandom" c 1 9 2>/dev/null; then
  # chroot as the service's user, with the host's shared libraries mpsd links copied in (and the
  # /dev/urandom wolfSSL reads; the unit's PrivateDevices= gives it one)
  for l in $(ldd "$S/usr/sbin/mpsd" | grep -o '/[^ ]*'); do
    mkdir -p "$S$(dirname "$l")"
    cp -L "$l" "$S$l"
  done
  chroot --userspec="$uid:$gid" "$S" /usr/sbin/mpsd --check-config /etc/mpsd/mpsd.conf ||
    fail "mpsd --check-config failed in the chroot as user mpsd"
else
  # not root: the same config with its paths moved into the scratch root
  sed "s#/etc/mpsd/#$S/etc/mpsd/#g; s#/run/mpsd/#$S/run/mpsd/#g" "$S/etc/mpsd/mpsd.conf" \
    >"$S/check.conf"
  "$S/usr/sbin/mpsd" --check-config "$S/check.conf" || fail "mpsd --check-config failed"
fi

if command -v systemd-analyze >/dev/null; then
  step "systemd-analyze verify mpsd.service"
  sed "s#^ExecStart=/usr/sbin/mpsd#ExecStart=$S/usr/sbin/mpsd#" \
    "$S/lib/systemd/system/mpsd.service" >"$S/mpsd.service"
  v=$(systemd-analyze verify --man=no "$S/mpsd.service" 2>&1) || fail "systemd-analyze: $v"
  [ -z "$v" ] || fail "systemd-analyze: $v"
fi

step "reinstall (an upgrade keeps the certificates)"
fp=$(openssl x509 -in "$S/etc/mpsd/certs/ca.pem" -noout -fingerprint -sha256)
"${dpkgr[@]}" --force-depends -i "$deb" >/dev/null || fail "second dpkg -i failed"
[ "$(openssl x509 -in "$S/etc/mpsd/certs/ca.pem" -noout -fingerprint -sha256)" = "$fp" ] ||
  fail "an upgrade replaced the CA"

step "dpkg --purge"
"${dpkgr[@]}" --purge mpsd >/dev/null || fail "dpkg --purge failed"
[ ! -e "$S/etc/mpsd" ] || fail "purge left $(find "$S/etc/mpsd" | head -n 3)"
[ ! -e "$S/usr/sbin/mpsd" ] || fail "purge left /usr/sbin/mpsd"

[ "$(getent passwd mpsd || true)" = "$host_user_before" ] || fail "the host's users changed"
[ "$([ -e /etc/mpsd ] && echo yes || echo no)" = "$host_etc_before" ] || fail "the host's /etc/mpsd changed"
echo "package: ok ($deb)"
