#!/bin/sh
# Runs the wolfSSL micro-benchmark for mpsd's wolfSSL and (if built) Debian's, and prints one
# JSON object with both and their ratios.
#   bench/tls/run.sh [BUILD_DIR] [SECONDS]     (default build-tls, 2 s per figure)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-tls}
secs=${2:-2}
case $build in /*) ;; *) build=$top/$build ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ninja -C "$build" bench/tls/bench_tls >/dev/null
[ -f "$build/build.ninja" ] && grep -q 'bench_tls_debian:' "$build/build.ninja" &&
    ninja -C "$build" bench/tls/bench_tls_debian >/dev/null

for bits in 2048 3072; do
    openssl req -x509 -newkey "rsa:$bits" -nodes -sha256 -days 2 -subj "/CN=mps.bench" \
        -keyout "$tmp/k$bits.pem" -out "$tmp/c$bits.pem" 2>/dev/null
done
args="$tmp/c2048.pem $tmp/k2048.pem $tmp/c3072.pem $tmp/k3072.pem $secs"
# shellcheck disable=SC2086
"$build/bench/tls/bench_tls" mpsd $args >"$tmp/mpsd.json"
if [ -x "$build/bench/tls/bench_tls_debian" ]; then
    # shellcheck disable=SC2086
    "$build/bench/tls/bench_tls_debian" debian $args >"$tmp/debian.json"
fi

python3 - "$tmp/mpsd.json" "$tmp/debian.json" <<'PY'
import json, os, sys
out = {"mpsd": json.load(open(sys.argv[1]))}
if os.path.exists(sys.argv[2]):
    d = out["debian"] = json.load(open(sys.argv[2]))
    m = out["mpsd"]
    ratio = lambda k: round(m[k] / d[k], 2) if d[k] else None
    out["ratio_mpsd_over_debian"] = {
        "aes128gcm_16k": ratio("aes128gcm_16k_MBps"),
        "tls12_ecdhe_rsa2048_hs": ratio("tls12_ecdhe_rsa2048_hs_per_s"),
        "tls12_ecdhe_rsa3072_hs": ratio("tls12_ecdhe_rsa3072_hs_per_s"),
        "idle_session_heap_debian_over_mpsd": round(d["idle_server_session_heap_B"] /
                                                     max(m["idle_server_session_heap_B"], 1), 2),
    }
    out["aes_gcm_at_least_10x"] = out["ratio_mpsd_over_debian"]["aes128gcm_16k"] >= 10
m = out["mpsd"]
if m.get("tls13_rsa2048_p256_hs_per_s"):
    out["tls13_x25519_over_p256_hs"] = round(m["tls13_rsa2048_x25519_hs_per_s"] /
                                             m["tls13_rsa2048_p256_hs_per_s"], 2)
print(json.dumps(out, indent=2))
PY
