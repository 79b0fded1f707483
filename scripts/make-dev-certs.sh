#!/usr/bin/env bash
# Makes throwaway TLS material for local use and tests, with the openssl CLI:
#   DIR/ca.crt, ca.key          a CA of its own ("Ringlog dev CA")
#   DIR/broker.crt, broker.key  a broker certificate for localhost and 127.0.0.1
#                               (and every extra NAME given: DNS names or IPs)
#   DIR/client.crt, client.key  a client certificate, CN=ringlog-client
# Keys are ECDSA P-256, unencrypted, mode 600. Never use these in production:
# the CA key sits next to the certificates it signs.
#
# usage: scripts/make-dev-certs.sh DIR [NAME...]
#   DAYS=N (environment) sets the validity, 825 days by default.
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: $0 DIR [EXTRA_HOST_OR_IP...]" >&2
  exit 2
fi
dir=$1
shift
days=${DAYS:-825}
command -v openssl >/dev/null || { echo "$0: openssl not found (Debian package openssl)" >&2; exit 1; }
mkdir -p "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
    san="$san,IP:$name"
  else
    san="$san,DNS:$name"
  fi
done

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The CA.
newkey "$dir/ca.key"
openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" -subj "/CN=Ringlog dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.crt"

# sign NAME SUBJECT EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
  local name=$1 subject=$2 ext=$3
  newkey "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr"
  printf '%s\n' "$ext" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# Brokers are servers to clients and, between brokers, clients of each other.
sign broker "/CN=localhost" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san"
sign client "/CN=ringlog-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.crt
echo "make-dev-certs: CA, broker ($san) and client certificates in $dir, valid $days days" >&2
