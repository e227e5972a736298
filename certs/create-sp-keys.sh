#!/bin/sh
# Creates the production SAML service provider keys of one connection: a signing key pair
# (signs AuthnRequests and LogoutRequests) and an encryption key pair (the IdP encrypts
# assertions to it). Each is a 3072-bit RSA key with a self-signed certificate valid for
# 3 years (1095 days). Files go into the folder given as the first argument, which this
# repository's .gitignore keeps out of git when it is under certs/.
#
# Usage: certs/create-sp-keys.sh FOLDER [COMMON_NAME]
#   FOLDER       where to write sp-signing.key/.crt and sp-encryption.key/.crt
#   COMMON_NAME  subject CN of the certificates (default: federated-signin SP)
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: $0 FOLDER [COMMON_NAME]" >&2
  exit 64
fi
folder=$1
common_name=${2:-federated-signin SP}

mkdir -p "$folder"
umask 077
for purpose in signing encryption; do
  key="$folder/sp-$purpose.key"
  cert="$folder/sp-$purpose.crt"
  if [ -e "$key" ] || [ -e "$cert" ]; then
    echo "$key or $cert exists already; move it away first (nothing was changed)" >&2
    exit 1
  fi
  openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days 1095 \
    -subj "/CN=$common_name $purpose" -keyout "$key" -out "$cert" 2>/dev/null
  chmod 600 "$key"
  chmod 644 "$cert"
  echo "created $key and $cert (expires $(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2))"
done
echo "Set sp.signingKey/signingCert and sp.decryptionKey/decryptionCert of the connection to these files."
