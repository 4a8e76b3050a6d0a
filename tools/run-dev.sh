#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running mpsd on a working embedded default:
# installs what is missing, builds wolfSSL (once) and mpsd, makes a dev CA + server certificate
# and a device credential under ./run/, prints what an AMT device needs, then runs mpsd in the
# foreground (Ctrl-C drains and stops it).
#   MPSD_NAME (default localhost)  the name devices dial: the server certificate's CN
#   MPSD_PORT (default 4433)       the CIRA port, on 127.0.0.1 and ::1 only
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh

if [ ! -f build/build.ninja ]; then
  meson setup build --pkg-config-path="$top/.deps/wolfssl/lib/pkgconfig" >/dev/null
fi
ninja -C build >/dev/null

name=${MPSD_NAME:-localhost}
port=${MPSD_PORT:-4433}
run=$top/run
mkdir -p "$run"
if [ ! -s "$run/certs/server.pem" ] || ! openssl x509 -in "$run/certs/server.pem" -noout -subject | grep -q "CN = $name\$"; then
  tools/mpsd-certs --dir "$run/certs" --name "$name" >/dev/null
fi

# A group credential that any dev device may log in with; its password is kept (mode 600) only so
# that this script can show it again: mpsd itself stores the argon2id hash alone.
if [ ! -s "$run/credentials" ] || [ ! -s "$run/dev-password" ]; then
  umask 077
  build/tools/mpsd-passwd --group dev --user admin --generate 2>"$run/dev-password.new" >"$run/credentials"
  sed -n 's/^password: //p' "$run/dev-password.new" >"$run/dev-password"
  rm -f "$run/dev-password.new"
fi

cat >"$run/mpsd.conf" <<CONF
# Written by tools/run-dev.sh: a loopback-only development server.
[mpsd]
name = $name
lock_file = $run/mpsd.lock
log_level = info

[cira]
listen = 127.0.0.1:$port, [::1]:$port
tls_profile = modern
cert = $run/certs/server.pem
key = $run/certs/server.key
keepalive_interval = 30s
keepalive_timeout = 90s

[devices]
credentials = $run/credentials
group_auth = true
auto_enroll = false
CONF

build/src/core/mpsd --check-config "$run/mpsd.conf"
fp=$(openssl x509 -in "$run/certs/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
cat <<INFO

  mpsd dev server
  ---------------
  CIRA address    : $name port $port (listening on 127.0.0.1 and ::1)
  CA AMT must trust: $run/certs/ca.pem
  CA SHA-256       : $fp
  MPS credential   : user 'admin', password '$(cat "$run/dev-password")'
  config           : $run/mpsd.conf

INFO
exec build/src/core/mpsd --config "$run/mpsd.conf"
