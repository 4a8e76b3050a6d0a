#!/bin/sh
# Crafted client certificates for the identity tests (docs/tls.md "Peer identity"), signed by
# the test CA that mpsd-certs made, made at build time (no key is ever committed).
#   gen-ident-certs.sh CA_PEM CA_KEY OUTDIR STAMP
# V is the victim (FX_DEVICE_GUID), B another device. Every certificate uses the one key id.key.
#   id-normal       CN=V                                    names V
#   id-upper        CN=V in upper case                      names V (GUIDs compare parsed)
#   id-slash-o      O="x/CN=V", CN=rogue                    names no one (rendered "/O=x/CN=V/CN=rogue")
#   id-two-cn       CN=V, CN=rogue (two RDNs)               names no one
#   id-multi-rdn    CN=V+CN=rogue (one multi-valued RDN)    names no one
#   id-slash-b      O="x/CN=V", CN=B                        names B only
#   id-nul          CN="V\0junk" (patched in, re-signed)    names no one
#   id-nul36        CN=V with a NUL for its 24th byte       names no one (36 bytes, NUL)
#   id-long         CN=V + "0" (37 bytes)                   names no one
#   id-san-same     CN=B, URI urn:uuid:B (upper), DNS host  names B (decode only: see below)
#   id-san-host     CN=B, DNS host, DNS:B (upper)           names B
#   id-san-other    CN=V, URI urn:uuid:B                    names no one (two devices)
#   id-san-dns      CN=V, DNS:B                             names no one (two devices)
#   id-san-nul      CN=V, URI urn:uuid:V with a NUL inside  names no one
# wolfSSL 5.5.4 refuses any URI SAN without "//" after the scheme (ASN_ALT_NAME_E), so the urn:uuid
# ones cannot complete a handshake with it: tests decode them directly.
set -eu
ca_pem=$1 ca_key=$2 out=$3 stamp=$4
case $stamp in /*) ;; *) stamp=$PWD/$stamp ;; esac
case $ca_pem in /*) ;; *) ca_pem=$PWD/$ca_pem ;; esac
case $ca_key in /*) ;; *) ca_key=$PWD/$ca_key ;; esac
V=0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b
VU=0AA8F7C2-1111-4E2F-9A3B-5C6D7E8F9A0B
B=0bb8f7c2-2222-4e2f-9a3b-5c6d7e8f9a0b
BU=0BB8F7C2-2222-4E2F-9A3B-5C6D7E8F9A0B
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out id.key 2>/dev/null

client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
nsCertType=client"

cert() { # name subject [subjectAltName]
    openssl req -new -key id.key -subj "$2" -out "$tmp/$1.csr" 2>/dev/null
    printf '%s\n' "$client_ext" >"$tmp/$1.ext"
    [ -z "${3:-}" ] || printf 'subjectAltName=%s\n' "$3" >>"$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$ca_pem" -CAkey "$ca_key" \
        -set_serial "0x$(openssl rand -hex 12)" -sha384 -days 825 -extfile "$tmp/$1.ext" \
        -out "$1.pem" 2>/dev/null
}

# Replaces the "~" of the unique string MARK inside the certificate with NUL and signs the
# changed TBSCertificate again with the CA key (same key size: the DER keeps its layout).
nul_patch() { # name mark
    openssl x509 -in "$1.pem" -outform DER -out "$tmp/$1.der"
    perl -e '
        my ($f, $mark, $tbs) = @ARGV;
        open my $h, "<:raw", $f or die; local $/; my $d = <$h>; close $h;
        my $at = index($d, $mark);
        $at += index($mark, "~") if $at >= 0;
        die "mark not found" if $at < 0 || index($d, $mark, $at + 1) >= 0;
        substr($d, $at, 1) = "\0";
        # Certificate: 30 82 LL LL, then TBSCertificate: 30 82 LL LL
        die "unexpected layout" unless substr($d, 0, 2) eq "\x30\x82" && substr($d, 4, 2) eq "\x30\x82";
        my $tl = 4 + unpack("n", substr($d, 6, 2));
        open my $o, ">:raw", $f or die; print $o $d; close $o;
        open $o, ">:raw", $tbs or die; print $o substr($d, 4, $tl); close $o;
    ' "$tmp/$1.der" "$2" "$tmp/$1.tbs"
    openssl dgst -sha384 -sign "$ca_key" -out "$tmp/$1.sig" "$tmp/$1.tbs"
    perl -e '
        my ($f, $sigf) = @ARGV;
        open my $h, "<:raw", $f or die; local $/; my $d = <$h>; close $h;
        open $h, "<:raw", $sigf or die; my $s = <$h>; close $h;
        substr($d, length($d) - length($s)) = $s; # the BIT STRING ends the certificate
        open my $o, ">:raw", $f or die; print $o $d; close $o;
    ' "$tmp/$1.der" "$tmp/$1.sig"
    openssl x509 -inform DER -in "$tmp/$1.der" -out "$1.pem"
}

cert id-normal "/CN=$V"
cert id-upper "/CN=$VU"
cert id-slash-o "/O=x\\/CN=$V/CN=rogue"
cert id-two-cn "/CN=$V/CN=rogue"
cert id-multi-rdn "/CN=$V+CN=rogue"
cert id-slash-b "/O=x\\/CN=$V/CN=$B"
cert id-nul "/CN=${V}~junk"
nul_patch id-nul "~junk"
cert id-nul36 "/CN=0aa8f7c2-1111-4e2f-9a3b~5c6d7e8f9a0b"
nul_patch id-nul36 "9a3b~5c6d"
cert id-long "/CN=${V}0"
cert id-san-same "/CN=$B" "URI:urn:uuid:$BU,DNS:amt-b.example.com"
cert id-san-host "/CN=$B" "DNS:amt-b.example.com,DNS:$BU"
cert id-san-other "/CN=$V" "URI:urn:uuid:$B"
cert id-san-dns "/CN=$V" "DNS:$B"
cert id-san-nul "/CN=$V" "URI:urn:uuid:0aa8f7c2-1111-4e2f-9a3b~5c6d7e8f9a0b"
nul_patch id-san-nul "9a3b~5c6d"

for c in id-*.pem; do # every one must still be a valid certificate from the CA
    openssl verify -CAfile "$ca_pem" -x509_strict "$c" >/dev/null
done
chmod 644 id-*.pem
touch "$stamp"
