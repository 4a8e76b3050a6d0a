#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running mpsd on a working embedded default:
# installs what is missing, builds wolfSSL (once) and mpsd, makes a dev CA + server certificate
# and a device credential under ./run/, prints what an AMT device needs, then runs mpsd in the
# foreground (Ctrl-C drains and stops it).
#   MPSD_NAME (default localhost)  the name devices dial: the server certificate's CN
#   MPSD_PORT (default 4433)       the CIRA port, on 127.0.0.1 and ::1 only
#   MPSD_SOCKS_PORT (default 1080), MPSD_HTTP_PORT (default 8080): the console proxy listeners,
#                                  on 127.0.0.1 only
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
socks_port=${MPSD_SOCKS_PORT:-1080}
http_port=${MPSD_HTTP_PORT:-8080}
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

# A console user allowed every device and port (consoles are denied by default): its password is
# kept the same way, for this script to show.
if [ ! -s "$run/users" ] || [ ! -s "$run/console-password" ]; then
  umask 077
  build/tools/mpsd-passwd --console console --devices all --ports all --generate \
    2>"$run/console-password.new" >"$run/users"
  sed -n 's/^password: //p' "$run/console-password.new" >"$run/console-password"
  rm -f "$run/console-password.new"
fi
cpw=$(cat "$run/console-password")
# proxychains4 configuration for console tools that know no proxy (amtterm)
cat >"$run/proxychains.conf" <<PXC
strict_chain
proxy_dns
quiet_mode
[ProxyList]
socks5 127.0.0.1 $socks_port console $cpw
PXC
chmod 600 "$run/proxychains.conf"

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

[console]
socks_listen = 127.0.0.1:$socks_port
http_listen = 127.0.0.1:$http_port
users = $run/users
name_suffix = mps.localhost
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

  Consoles reach devices through mpsd (user 'console', password '$cpw'):
    SOCKS5/SOCKS4a : 127.0.0.1:$socks_port
    HTTP proxy     : 127.0.0.1:$http_port (CONNECT and absolute URIs)
  With simulated devices running (second terminal):
    build/tools/amtsim/amtsim --connect 127.0.0.1:$port --sni $name --ca $run/certs/ca.pem \\
        --user admin --password '$(cat "$run/dev-password")' --count 10 --duration 0
  try, as a console would (AMT's own login on the simulated ports is admin / P@ssw0rd):
    curl --digest -u admin:P@ssw0rd --socks5-hostname 127.0.0.1:$socks_port -U 'console:$cpw' http://amt-1:16992/wsman
    curl --digest -u admin:P@ssw0rd -x http://127.0.0.1:$http_port -U 'console:$cpw' http://amt-2:16992/wsman
    curl --digest -u admin:P@ssw0rd -p -x http://127.0.0.1:$http_port -U 'console:$cpw' http://12345678-0000-4000-8000-000000000003.mps.localhost:16992/wsman
    proxychains4 -f $run/proxychains.conf amtterm -u admin -p P@ssw0rd amt-4 16994     (SOL; ^] quits)

INFO
exec build/src/core/mpsd --config "$run/mpsd.conf"
