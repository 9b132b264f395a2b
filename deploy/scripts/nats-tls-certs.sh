#!/usr/bin/env bash
# Throwaway TLS material for the ship -> shore NATS leaf connection, made with openssl at
# test or deploy time. Private keys are written only into DIR (mode 0600) and never belong
# in the repository.
#
#   nats-tls-certs.sh DIR [HOSTS]
#
# Writes into DIR:
#   ca.pem, ca-key.pem       a fresh CA (EC P-256, 2 days)
#   shore.pem, shore-key.pem the shore hub's leafnode certificate, for HOSTS
#                            (comma-separated DNS names or IPs; default 127.0.0.1,localhost)
#   ship.pem, ship-key.pem   the ship leaf's client certificate (the hub verifies it)
# Prints DIR. A second call with another DIR makes an unrelated CA (for tests that a
# leaf trusting the wrong CA is refused).
set -euo pipefail
dir="${1:?usage: nats-tls-certs.sh DIR [HOSTS]}"
hosts="${2:-127.0.0.1,localhost}"
command -v openssl >/dev/null || { echo "nats-tls-certs: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
umask 077
days=2

san=""
IFS=',' read -ra hs <<<"$hosts"
for h in "${hs[@]}"; do
    if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
done
san="${san%,}"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca-key.pem"
openssl req -x509 -new -key "$dir/ca-key.pem" -days "$days" -subj "/CN=seawatch throwaway CA $$" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.pem" 2>/dev/null

sign() { # name cn extensions
    key "$dir/$1-key.pem"
    openssl req -new -key "$dir/$1-key.pem" -subj "/CN=$2" -out "$dir/$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$dir/$1.ext"
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days "$days" -extfile "$dir/$1.ext" -out "$dir/$1.pem" 2>/dev/null
    rm -f "$dir/$1.csr" "$dir/$1.ext"
}
sign shore "seawatch-shore" "subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
sign ship "seawatch-ship" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
rm -f "$dir/ca.srl"
chmod 0644 "$dir/ca.pem" "$dir/shore.pem" "$dir/ship.pem"
echo "$dir"
