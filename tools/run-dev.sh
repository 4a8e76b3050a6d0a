#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running mpsd on a working embedded default:
# installs what is missing, builds wolfSSL (once) and mpsd (into build/), makes a dev CA + server
# certificate, a device credential and a console user under ./run/, prints what an AMT device and
# a console need (with absolute paths: the commands work from any directory), then runs mpsd in
# the foreground (Ctrl-C drains and stops it).
#
#   MPSD_NAME (default localhost)   the name devices dial: the server certificate's CN
#   MPSD_PORT (default 4433)        the CIRA port, on 127.0.0.1 and ::1 only
#   MPSD_SOCKS_PORT (default 1080)  the SOCKS5/SOCKS4a console proxy, on 127.0.0.1 only
#   MPSD_HTTP_PORT (default 8080)   the HTTP console proxy (CONNECT, absolute URIs), 127.0.0.1 only
#   MPSD_ADMIN_PORT (default 9180)  metrics, health and the device API, on 127.0.0.1 only
#
# A port some process already listens on, or another mpsd running on this host (only one may),
# stops the script before anything is built, printed or run, naming that process (set another
# port with the variables above).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case ${1:-} in
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) echo "run-dev.sh: no arguments, only the environment variables of --help" >&2; exit 2 ;;
esac

name=${MPSD_NAME:-localhost}
port=${MPSD_PORT:-4433}
socks_port=${MPSD_SOCKS_PORT:-1080}
http_port=${MPSD_HTTP_PORT:-8080}
admin_port=${MPSD_ADMIN_PORT:-9180}

# The process that holds one of the socket inodes given: "pid N (comm: cmdline)", or "a process
# this user cannot see". Read from /proc, so nothing beyond coreutils and findutils is needed.
socket_holder() {
  local ino fd pid
  for ino in "$@"; do
    fd=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\[$ino\]" -print -quit 2>/dev/null || true)
    if [ -n "$fd" ]; then
      pid=${fd#/proc/}
      pid=${pid%%/*}
      echo "pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null): $(tr '\0\n\t' '   ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ *$//' | cut -c1-120))"
      return 0
    fi
  done
  echo "a process this user cannot see"
}

# Who listens on TCP port $1 (any address); nothing when the port is free.
port_holder() {
  local hex inodes
  hex=$(printf '%04X' "$1")
  inodes=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
  [ -z "$inodes" ] || socket_holder $inodes
}

# mpsd refuses to start while another one runs on this host, whatever its ports (it holds the
# abstract socket @mpsd.instance); say so before the banner too.
instance_holder() {
  local want=@mpsd.instance${MPSD_TEST_INSTANCE:+.$MPSD_TEST_INSTANCE} inodes
  inodes=$(awk -v w="$want" '$8 == w && $4 == "00010000" && $7 != 0 { print $7 }' /proc/net/unix 2>/dev/null | sort -u)
  [ -z "$inodes" ] || socket_holder $inodes
}

check_ports() {
  local bad=0 i holder
  local vars=(MPSD_PORT MPSD_SOCKS_PORT MPSD_HTTP_PORT MPSD_ADMIN_PORT)
  local what=("CIRA" "the SOCKS proxy" "the HTTP proxy" "the admin listener")
  local ports=("$port" "$socks_port" "$http_port" "$admin_port")
  for i in 0 1 2 3; do
    case ${ports[i]} in
      ''|*[!0-9]*) echo "run-dev.sh: ${vars[i]}='${ports[i]}' is not a port number" >&2; bad=1; continue ;;
    esac
    holder=$(port_holder "${ports[i]}")
    if [ -n "$holder" ]; then
      echo "run-dev.sh: port ${ports[i]} (${what[i]}) is already taken by $holder;" \
        "stop it or pick another with ${vars[i]}=PORT" >&2
      bad=1
    fi
  done
  holder=$(instance_holder)
  if [ -n "$holder" ]; then
    echo "run-dev.sh: another mpsd already runs on this host ($holder) and only one may;" \
      "stop it first" >&2
    bad=1
  fi
  if [ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" != 4 ]; then
    echo "run-dev.sh: the four ports must differ (${ports[*]})" >&2
    bad=1
  fi
  [ "$bad" = 0 ] || exit 1
}
check_ports

bash tools/setup.sh

. tools/build-dir.sh
build_dir build
ninja -C build >/dev/null
mpsd=$top/build/src/core/mpsd
amtsim=$top/build/tools/amtsim/amtsim
passwd=$top/build/tools/mpsd-passwd

run=$top/run
mkdir -p "$run"
if [ ! -s "$run/certs/server.pem" ] || ! openssl x509 -in "$run/certs/server.pem" -noout -subject | grep -q "CN = $name\$"; then
  tools/mpsd-certs --dir "$run/certs" --name "$name" >/dev/null
fi

# A group credential that any dev device may log in with; its password is kept (mode 600) only so
# that this script can show it again: mpsd itself stores the argon2id hash alone.
if [ ! -s "$run/credentials" ] || [ ! -s "$run/dev-password" ]; then
  umask 077
  "$passwd" --group dev --user admin --generate 2>"$run/dev-password.new" >"$run/credentials"
  sed -n 's/^password: //p' "$run/dev-password.new" >"$run/dev-password"
  rm -f "$run/dev-password.new"
fi

# A console user allowed every device and port (consoles are denied by default): its password is
# kept the same way, for this script to show.
if [ ! -s "$run/users" ] || [ ! -s "$run/console-password" ]; then
  umask 077
  "$passwd" --console console --devices all --ports all --generate \
    2>"$run/console-password.new" >"$run/users"
  sed -n 's/^password: //p' "$run/console-password.new" >"$run/console-password"
  rm -f "$run/console-password.new"
fi
cpw=$(cat "$run/console-password")

# The admin API's bearer token (the device list, disconnects, the event stream): kept the same
# way; mpsd's config holds only its argon2id hash.
if [ ! -s "$run/api-token" ] || [ ! -s "$run/api-token-hash" ]; then
  umask 077
  "$passwd" --token 2>"$run/api-token.new" >"$run/api-token-hash"
  sed -n 's/^token: //p' "$run/api-token.new" >"$run/api-token"
  rm -f "$run/api-token.new"
fi
api_token=$(cat "$run/api-token")
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

[admin]
listen = 127.0.0.1:$admin_port
$(cat "$run/api-token-hash")
CONF

"$mpsd" --check-config "$run/mpsd.conf"
check_ports # again: the build took a while
fp=$(openssl x509 -in "$run/certs/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
pw=$(cat "$run/dev-password")
cat <<INFO

  mpsd dev server
  ---------------
  CIRA address    : $name port $port (listening on 127.0.0.1 and ::1)
  CA AMT must trust: $run/certs/ca.pem
  CA SHA-256       : $fp
  MPS credential   : user 'admin', password '$pw'
  config           : $run/mpsd.conf
  mpsd binary      : $mpsd (not on PATH)
  metrics, health  : http://127.0.0.1:$admin_port/metrics, /healthz, /readyz
  device API token : $run/api-token (docs/admin.md)

  Consoles reach devices through mpsd (user 'console', password '$cpw'):
    SOCKS5/SOCKS4a : 127.0.0.1:$socks_port
    HTTP proxy     : 127.0.0.1:$http_port (CONNECT and absolute URIs)
  With simulated devices running (second terminal, any directory):
    $amtsim --connect 127.0.0.1:$port --sni $name --ca $run/certs/ca.pem \\
        --user admin --password '$pw' --count 10 --duration 0
  try, as a console would (AMT's own login on the simulated ports is admin / P@ssw0rd):
    curl --digest -u admin:P@ssw0rd --socks5-hostname 127.0.0.1:$socks_port -U 'console:$cpw' http://amt-1:16992/wsman
    curl --digest -u admin:P@ssw0rd -x http://127.0.0.1:$http_port -U 'console:$cpw' http://amt-2:16992/wsman
    curl --digest -u admin:P@ssw0rd -p -x http://127.0.0.1:$http_port -U 'console:$cpw' http://12345678-0000-4000-8000-000000000003.mps.localhost:16992/wsman
    proxychains4 -f $run/proxychains.conf amtterm -u admin -p P@ssw0rd amt-4 16994     (SOL; ^] quits)
    curl -s http://127.0.0.1:$admin_port/metrics | grep '^mpsd_'
    curl -s -H "Authorization: Bearer $api_token" http://127.0.0.1:$admin_port/api/v1/devices?limit=3
    curl -sN -H "Authorization: Bearer $api_token" http://127.0.0.1:$admin_port/api/v1/events

INFO
exec "$mpsd" --config "$run/mpsd.conf"
