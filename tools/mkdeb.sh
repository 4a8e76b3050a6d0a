#!/usr/bin/env bash
# Builds the Debian package of mpsd in one command, then checks it with lintian:
#
#   tools/mkdeb.sh [OUTDIR]   # -> OUTDIR/mpsd_VERSION-1_ARCH.deb (default OUTDIR: the build dir)
#
# A release build of its own (MPSD_DEB_BUILD, default build-deb: gcc, -O2 with Debian's hardening
# flags from dpkg-buildflags, the static AES-NI wolfSSL of tools/setup.sh, no test suites), then a
# staged tree:
#   /usr/sbin/mpsd, /usr/bin/{mpsd-passwd,mpsd-certs,amtsim}, /lib/systemd/system/mpsd.service,
#   /etc/mpsd/mpsd.conf (conffile), man pages, /usr/share/doc/mpsd (copyright, changelog.Debian.gz,
#   README and docs, examples/low-port.conf), the maintainer scripts of packaging/debian,
# packed by dpkg-deb --root-owner-group. lintian must report no error (its output, warnings too,
# goes to OUTDIR/lintian.txt); justified overrides are in packaging/debian/lintian-overrides.
# The version is meson.build's project version, Debian revision MPSD_DEB_REVISION (default 1).
# MPSD_NO_SETUP=1 skips tools/setup.sh (the package test, in a tree already set up).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
umask 022
export LC_ALL=C.UTF-8

log() { printf 'mkdeb: %s\n' "$*" >&2; }

[ -n "${MPSD_NO_SETUP:-}" ] || bash tools/setup.sh
build=${MPSD_DEB_BUILD:-$top/build-deb}
out=${1:-$build}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${MPSD_DEB_JOBS:-2}

# --- the release build ---------------------------------------------------------------------
# Debian's hardening flags (stack protector, FORTIFY_SOURCE, relro, bindnow); meson's release
# buildtype adds -O3 and NDEBUG.
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
export CC=${MPSD_DEB_CC:-gcc}
. "$top/tools/build-dir.sh"
build_dir "$build" --buildtype=release -Dwerror=true -Dtests=false -Dfuzz=false --prefix=/usr
log "building $build"
nice ninja -C "$build" -j"$jobs" src/core/mpsd tools/mpsd-passwd tools/amtsim/amtsim >/dev/null

version=$(meson introspect --projectinfo "$build" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
debver=$version-${MPSD_DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
"$build/src/core/mpsd" --version | grep -q '^AES-NI: compiled in' ||
  { log "$build/src/core/mpsd has no AES-NI wolfSSL; run tools/setup.sh"; exit 1; }

# --- the staged tree -----------------------------------------------------------------------
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/mpsd
install -d "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/mpsd" "$root/usr/share/man/man1" "$root/usr/share/man/man8" "$doc/examples"

strip_into() { # SRC DEST: stripped the way dh_strip does
  install -m 0755 "$1" "$2"
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$2"
}
strip_into "$build/src/core/mpsd" "$root/usr/sbin/mpsd"
strip_into "$build/tools/mpsd-passwd" "$root/usr/bin/mpsd-passwd"
strip_into "$build/tools/amtsim/amtsim" "$root/usr/bin/amtsim"
# mpsd-certs is a bash script: Debian scripts name their interpreter's path
sed '1s|^#!/usr/bin/env bash$|#!/bin/bash|' tools/mpsd-certs >"$root/usr/bin/mpsd-certs"
chmod 0755 "$root/usr/bin/mpsd-certs"

install -m 0644 packaging/mpsd.service "$root/lib/systemd/system/mpsd.service"
install -m 0644 packaging/mpsd.conf "$root/etc/mpsd/mpsd.conf"
install -m 0644 packaging/low-port.conf "$doc/examples/low-port.conf"
for m in packaging/man/*.[18]; do
  sect=${m##*.}
  gzip -9n <"$m" >"$root/usr/share/man/man$sect/$(basename "$m").gz"
done
for d in README.md docs/*.md; do
  gzip -9n <"$d" >"$doc/$(basename "$d").gz"
done
install -m 0644 packaging/debian/copyright "$doc/copyright"

# the maintainer: MPSD_DEB_MAINTAINER, else the author of the commit built
maint=${MPSD_DEB_MAINTAINER:-$(git -c safe.directory="$top" log -1 --format="%an <%ae>" 2>/dev/null || true)}
[ -n "$maint" ] || { log "set MPSD_DEB_MAINTAINER='Name <email>'"; exit 1; }
commit=$(git -c safe.directory="$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(git -c safe.directory="$top" log -1 --format=%aD 2>/dev/null || date -R)
{
  printf 'mpsd (%s) bookworm; urgency=medium\n\n' "$debver"
  printf '  * Built by tools/mkdeb.sh from the mpsd tree at commit %s.\n\n' "$commit"
  printf ' -- %s  %s\n' "$maint" "$date"
} | gzip -9n >"$doc/changelog.Debian.gz"

install -d "$root/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/mpsd"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/mpsd/mpsd.conf >"$root/DEBIAN/conffiles"

# Depends: the shared libraries the binaries link (dpkg-shlibdeps wants a debian/control to sit
# next to), adduser for postinst, openssl for mpsd-certs.
mkdir -p "$stage/src/debian"
printf 'Source: mpsd\n\nPackage: mpsd\nArchitecture: any\n' >"$stage/src/debian/control"
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/sbin/mpsd" "$root/usr/bin/mpsd-passwd" \
  "$root/usr/bin/amtsim" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { log "dpkg-shlibdeps found no dependencies"; exit 1; }

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: mpsd
Version: $debver
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $shlibs, adduser, openssl
Section: net
Priority: optional
Description: Intel AMT Management Presence Server (CIRA tunnels, console proxy)
 mpsd terminates the CIRA tunnels that Intel AMT firmware dials out over
 TLS, speaks the APF protocol inside them, and lets management consoles
 reach the devices through those tunnels: it is a SOCKS5/SOCKS4a and HTTP
 proxy to the devices' AMT ports. It runs on per-CPU io_uring workers and
 an AES-NI build of wolfSSL (statically linked).
 .
 The package installs the systemd service mpsd.service (not enabled), a
 commented configuration in /etc/mpsd, the tools mpsd-passwd (argon2id
 credentials) and mpsd-certs (a dev CA and server certificate, made at
 install), and amtsim, an AMT device simulator for tests.
CONTROL

deb=$out/mpsd_${debver}_$arch.deb
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
log "built $deb"

# --- lintian -------------------------------------------------------------------------------
# Run as root it refuses without --allow-root; errors (E:) fail the build, the rest is listed.
lint=$out/lintian.txt
lintian_opts=(--display-info --pedantic --tag-display-limit 0)
[ "$(id -u)" != 0 ] || lintian_opts+=(--allow-root)
set +e
lintian "${lintian_opts[@]}" "$deb" >"$lint" 2>&1
lrc=$?
set -e
errors=$(grep -c '^E: ' "$lint" || true)
warnings=$(grep -c '^W: ' "$lint" || true)
if [ -s "$lint" ]; then
  log "lintian ($errors errors, $warnings warnings; $lint):"
  sed 's/^/  /' "$lint" >&2
fi
# lintian exits 1 when it found errors, 2 when it could not run
if [ "$errors" != 0 ] || [ "$lrc" != 0 ]; then
  log "lintian reported errors (exit $lrc): $deb is not releasable"
  exit 1
fi
echo "$deb"
