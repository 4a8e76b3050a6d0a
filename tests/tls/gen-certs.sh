#!/bin/sh
# Test certificates for the TLS suite, made once per build (RSA-3072 keygen is slow).
#   gen-certs.sh OUTDIR [STAMP]
# ca (RSA-3072, SHA-384) -> server (RSA-3072, CN=mps.test, serverAuth, nsCertType server),
# server2 (RSA-2048, CN=mps2.test: the "new" certificate of the reload test), client (clientAuth);
# rogue-ca -> rogue-client (a client certificate the server must refuse).
set -eu
out=$1
stamp=${2:-$1/stamp}
case $stamp in /*) ;; *) stamp=$PWD/$stamp ;; esac
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days="-days 825"
# Back-date like Open AMT does, so skewed clocks do not matter (not needed in tests, kept simple).

ca() { # name bits cn
    openssl req -x509 -newkey "rsa:$2" -nodes -sha384 $days -keyout "$1.key" -out "$1.pem" \
        -subj "/O=mpsd test/CN=$3" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() { # name bits subject issuer extensions
    openssl req -new -newkey "rsa:$2" -nodes -keyout "$1.key" -out "$tmp/$1.csr" -subj "$3" 2>/dev/null
    printf '%s\n' "$5" >"$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial \
        -CAserial "$tmp/$4.srl" -sha384 $days -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
    cat "$1.pem" "$4.pem" >"$1-chain.pem" # served chain: leaf + root
}

server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
nsCertType=server"
client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
nsCertType=client"

ca ca 3072 "mpsd test root"
leaf server 3072 "/O=mpsd test/CN=mps.test" ca "$server_ext"
leaf server2 2048 "/O=mpsd test/CN=mps2.test" ca "$server_ext"
leaf client 2048 "/O=mpsd test devices/CN=amt-device-1" ca "$client_ext"
ca rogue-ca 2048 "rogue root"
leaf rogue-client 2048 "/O=rogue/CN=amt-rogue" rogue-ca "$client_ext"
touch "$stamp"
