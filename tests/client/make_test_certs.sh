#!/usr/bin/env bash
# TLS material for test_tls, in DIR:
#   good/      scripts/make-dev-certs.sh: ca, broker (localhost, 127.0.0.1), client
#   other/     the same from another CA (a CA the broker does not trust, and vice versa)
#   expired/   broker.crt and client.crt signed by good/ca, valid only in 2020
#   wronghost/ broker.crt signed by good/ca for other.example only
#   wrongpeer/ broker.crt signed by good/ca for other.example only, usable between
#              brokers (serverAuth and clientAuth): a peer whose name is wrong
# usage: make_test_certs.sh SOURCE_DIR DIR
set -euo pipefail
src=$1
dir=$2
mkdir -p "$dir"
"$src/scripts/make-dev-certs.sh" "$dir/good" 2>/dev/null
"$src/scripts/make-dev-certs.sh" "$dir/other" 2>/dev/null

# A certificate signed by good/ca: NAME SUBJECT EXTENSIONS [STARTDATE ENDDATE] into OUT/.
# `openssl ca` is what takes explicit validity dates (x509 -req only counts days from now).
sign() {
  local out=$1 name=$2 subject=$3 ext=$4 start=${5:-} end=${6:-}
  mkdir -p "$out" "$out/db"
  : >"$out/db/index.txt"
  echo 1000 >"$out/db/serial"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$name.key" 2>/dev/null
  openssl req -new -key "$out/$name.key" -subj "$subject" -out "$out/$name.csr"
  cat >"$out/db/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $out/db/index.txt
serial = $out/db/serial
new_certs_dir = $out/db
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[ext]
$ext
EOF
  local dates=(-days 30)
  if [ -n "$start" ]; then dates=(-startdate "$start" -enddate "$end"); fi
  openssl ca -batch -notext -config "$out/db/ca.cnf" -extensions ext -cert "$dir/good/ca.crt" \
    -keyfile "$dir/good/ca.key" "${dates[@]}" -in "$out/$name.csr" -out "$out/$name.crt" 2>/dev/null
  rm -rf "$out/db" "$out/$name.csr"
}

server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
sign "$dir/expired" broker "/CN=localhost" "$server_ext" 20200101000000Z 20200102000000Z
sign "$dir/expired" client "/CN=expired-client" "$client_ext" 20200101000000Z 20200102000000Z
sign "$dir/wronghost" broker "/CN=other.example" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:other.example"
sign "$dir/wrongpeer" broker "/CN=other.example" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:other.example"
