#!/usr/bin/env bash
# Installs everything mpsd needs on Debian 12 and builds the AES-NI wolfSSL it links.
# Idempotent: packages already present are skipped by apt, and a verified wolfSSL build is reused.
#
#   tools/setup.sh            # apt packages + wolfSSL
#   MPSD_DEPS_DIR=/path ...   # where wolfSSL builds are kept (default /var/cache/mpsd if writable, else .deps/)
#
# The result is the symlink .deps/wolfssl -> <verified prefix>, which meson finds through pkg-config.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
WOLFSSL_VERSION=5.5.4

# The configure line is part of the cache key: change a flag and a new build is made.
# aesni/intelasm/sp-asm: the fast paths (see shared facts: 45x AES-GCM, 4x handshakes; bench/tls measures 33x and 4x here).
# tlsv10 + oldtls + WOLFSSL_STATIC_RSA: compiled in for the opt-in legacy TLS profile (AMT <= 11); the
#   modern profile keeps them off at run time.
# No LARGE_STATIC_BUFFERS: idle sessions then hold no record buffers.
# aesgcm=word32: no per-key GHASH table. The default (4bit) puts a 512-byte M0 table in every Aes,
#   two per session (848 -> 336 B each, 1 KiB per idle tunnel), and with AES-NI the table is never
#   even filled (wc_AesGcmSetKey returns before GenerateM0; the AES-NI/AVX code computes GHASH with
#   PCLMULQDQ). word32 is the portable C GHASH a CPU without AES-NI would fall back to.
WOLFSSL_CONFIGURE=(
  --enable-static --disable-shared --disable-examples --disable-crypttests --disable-benchmark
  --enable-aesni --enable-intelasm --enable-sp=yes --enable-sp-asm
  --enable-tls13 --enable-oldtls --enable-tlsv10
  --enable-session-ticket --enable-sni --enable-alpn --enable-supportedcurves --enable-extended-master
  --enable-dh --enable-ecc --enable-aesgcm=word32 --enable-aescbc --enable-chacha --enable-poly1305
  --enable-keygen --enable-certgen --enable-certext
  --enable-curve25519
)
WOLFSSL_CFLAGS="-O2 -g -fPIC -DWOLFSSL_STATIC_RSA -DWOLFSSL_USER_IO"

# libwolfssl-dev: only for bench/tls, which measures Debian's binary against ours (never linked by mpsd).
# curl, proxychains4, amtterm: the real consoles the integration tests drive through mpsd's proxies.
# libjansson-dev: JSON for the admin API, events and JSON log lines (every string escaped by it).
# prometheus: promtool checks the /metrics exposition, and a real Prometheus scrapes mpsd in tests.
# lintian: checks the Debian package tools/mkdeb.sh builds.
# gnuplot-nox: bench/fleet/run.py --plot draws tunnels, RSS and CPU over time.
apt_packages=(
  build-essential meson ninja-build pkg-config
  liburing-dev libjemalloc-dev libcriterion-dev libinih-dev libargon2-dev libjansson-dev
  autoconf automake libtool dpkg-dev
  clang-14 libclang-rt-14-dev llvm-14
  openssl curl prometheus procps
  libwolfssl-dev
  proxychains4 amtterm
  lintian
  gnuplot-nox
)

log() { printf 'setup: %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_deb_src() {
  if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding a bookworm deb-src entry (apt-get source wolfssl needs it)"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo tee /etc/apt/sources.list.d/mpsd-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    $sudo apt-get update -qq
  fi
}

flags_key() { printf '%s\n' "$WOLFSSL_VERSION" "${WOLFSSL_CONFIGURE[@]}" "$WOLFSSL_CFLAGS" | sha256sum | cut -c1-12; }

# A build is trusted only if its stamp names the same version and flags and its options.h shows
# the fast paths and the legacy features really compiled in.
verify_prefix() {
  local p=$1
  [ -f "$p/mpsd-build.stamp" ] && [ -f "$p/lib/libwolfssl.a" ] && [ -f "$p/lib/pkgconfig/wolfssl.pc" ] || return 1
  [ "$(cat "$p/mpsd-build.stamp")" = "$(flags_key) $WOLFSSL_VERSION" ] || return 1
  grep -q "^Version: $WOLFSSL_VERSION\$" "$p/lib/pkgconfig/wolfssl.pc" || return 1
  local d
  for d in WOLFSSL_AESNI USE_INTEL_SPEEDUP WOLFSSL_SP_X86_64_ASM WOLFSSL_TLS13 WOLFSSL_ALLOW_TLSV10 HAVE_SESSION_TICKET HAVE_CURVE25519 GCM_WORD32; do
    grep -q "#define $d\b" "$p/include/wolfssl/options.h" || { log "$p lacks $d"; return 1; }
  done
}

build_wolfssl() {
  local prefix=$1 work
  work=$(mktemp -d)
  log "building wolfSSL $WOLFSSL_VERSION from Debian's source into $prefix (a few minutes on 2 cores)"
  ensure_deb_src
  (cd "$work" && apt-get source -qq "wolfssl=$WOLFSSL_VERSION*" >/dev/null 2>&1 || apt-get source -qq wolfssl >/dev/null)
  local src
  src=$(find "$work" -maxdepth 1 -type d -name "wolfssl-$WOLFSSL_VERSION*" | head -n1)
  [ -n "$src" ] || { log "apt-get source wolfssl gave no wolfssl-$WOLFSSL_VERSION tree"; exit 1; }
  rm -rf "$prefix"
  (
    cd "$src"
    ./autogen.sh >/dev/null 2>&1
    CFLAGS="$WOLFSSL_CFLAGS" ./configure -q --prefix="$prefix" "${WOLFSSL_CONFIGURE[@]}" >/dev/null
    make -s -j"$(nproc)" >/dev/null 2>&1
    make -s install >/dev/null
  )
  # WOLFSSL_STATIC_RSA and WOLFSSL_USER_IO came in through CFLAGS; record them in options.h so that
  # everything compiled against this prefix sees the same configuration.
  cat >>"$prefix/include/wolfssl/options.h" <<'OPT'
/* added by mpsd tools/setup.sh: these came in through CFLAGS */
#ifndef WOLFSSL_STATIC_RSA
#define WOLFSSL_STATIC_RSA
#endif
#ifndef WOLFSSL_USER_IO
#define WOLFSSL_USER_IO
#endif
OPT
  echo "$(flags_key) $WOLFSSL_VERSION" >"$prefix/mpsd-build.stamp"
  rm -rf "$work"
  verify_prefix "$prefix" || { log "the new wolfSSL build failed verification"; exit 1; }
}

ensure_wolfssl() {
  local base=${MPSD_DEPS_DIR:-}
  if [ -z "$base" ]; then
    if mkdir -p /var/cache/mpsd 2>/dev/null && [ -w /var/cache/mpsd ]; then base=/var/cache/mpsd; else base=$top/.deps; fi
  fi
  local prefix="$base/wolfssl-$WOLFSSL_VERSION-$(flags_key)"
  if verify_prefix "$prefix"; then
    log "reusing verified wolfSSL $WOLFSSL_VERSION at $prefix"
  else
    build_wolfssl "$prefix"
  fi
  mkdir -p "$top/.deps"
  ln -sfn "$prefix" "$top/.deps/wolfssl"
}

install_packages
ensure_wolfssl
log "ready: wolfSSL at $top/.deps/wolfssl"
