# shellcheck shell=bash
# Turns nothing into the test services' private PKI under target/services/pki: a CA (ca.crt), a
# certificate for the secured Kafka broker (kafka-broker.pem: key + certificate, Kafka's PEM key
# store) and one for PostgreSQL (postgres.crt / postgres.key), both with SAN 127.0.0.1 and
# localhost. Clients trust ca.crt. Generated once with openssl; `scripts/services clean` removes it.
# Sourced by scripts/services (which defines SERVICES_DIR, say, die, rel); not meant to run on its own.

PKI_HOME="$SERVICES_DIR/pki"

# pki_leaf NAME CN: a key and a CA-signed certificate NAME.key / NAME.crt for 127.0.0.1 and localhost,
# usable by a server and (for broker-to-controller TLS) as a client.
pki_leaf() {
  local name="$1" cn="$2"
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI_HOME/$name.key" -out "$PKI_HOME/$name.csr" \
    -subj "/CN=$cn" >>"$PKI_HOME/openssl.log" 2>&1 || die "openssl could not make the $name key; see $(rel "$PKI_HOME/openssl.log")"
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth,clientAuth' \
    >"$PKI_HOME/$name.ext"
  openssl x509 -req -in "$PKI_HOME/$name.csr" -CA "$PKI_HOME/ca.crt" -CAkey "$PKI_HOME/ca.key" \
    -CAcreateserial -days 825 -sha256 -extfile "$PKI_HOME/$name.ext" -out "$PKI_HOME/$name.crt" \
    >>"$PKI_HOME/openssl.log" 2>&1 || die "openssl could not sign the $name certificate; see $(rel "$PKI_HOME/openssl.log")"
  rm -f "$PKI_HOME/$name.csr" "$PKI_HOME/$name.ext"
  chmod 600 "$PKI_HOME/$name.key"
}

# pki_ensure: creates the CA and the leaf certificates unless they exist.
pki_ensure() {
  [[ -f "$PKI_HOME/ca.crt" && -f "$PKI_HOME/kafka-broker.pem" && -f "$PKI_HOME/postgres.crt" ]] && return 0
  command -v openssl >/dev/null || die "openssl not found: it makes the test CA (apt-get install -y openssl)"
  rm -rf "$PKI_HOME"
  mkdir -p "$PKI_HOME"
  chmod 755 "$PKI_HOME"
  say "creating a private CA and server certificates in $(rel "$PKI_HOME")"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=carebus test CA" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$PKI_HOME/ca.key" -out "$PKI_HOME/ca.crt" >>"$PKI_HOME/openssl.log" 2>&1 ||
    die "openssl could not make the CA; see $(rel "$PKI_HOME/openssl.log")"
  chmod 600 "$PKI_HOME/ca.key"
  pki_leaf kafka-broker carebus-kafka-broker
  cat "$PKI_HOME/kafka-broker.key" "$PKI_HOME/kafka-broker.crt" >"$PKI_HOME/kafka-broker.pem"
  chmod 600 "$PKI_HOME/kafka-broker.pem"
  pki_leaf postgres localhost
}
