#!/bin/sh
# Installs the Debian packages that the peer tests in test/peers need, skipping those already
# installed. Runs `apt-get update` once, and only when something must be installed.
#
#   simplesamlphp  independent SAML IdP (its Debian package depends on neither php-xml nor php-cli)
#   php-cli        `php -S` serves SimpleSAMLphp and `php` runs its metadata parser
#   php-xml        dom extension, without which SimpleSAMLphp cannot parse any XML
#   php-mbstring   native mbstring, in place of the PHP polyfill that SimpleSAMLphp ships
#   xmlsec1        verifies the IdP's XML signatures independently of our code
#   chromium       browser for the end-to-end peer tests
#
# Needs root, or sudo when run by another user. Usage: test/peers/install-peers.sh
set -eu

PACKAGES="simplesamlphp php-cli php-xml php-mbstring xmlsec1 chromium nginx"

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=""
for package in $PACKAGES; do
  if ! is_installed "$package"; then
    missing="$missing $package"
  fi
done

if [ -z "$missing" ]; then
  echo "install-peers: all peer test packages are installed ($PACKAGES)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "install-peers: missing packages:$missing, and this script needs root or sudo to install them" >&2
  exit 1
fi

echo "install-peers: installing$missing"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update
# Recommended packages stay in, because this is the set the peer tests were run with.
# shellcheck disable=SC2086 # $missing is a space-separated package list.
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing

for package in $missing; do
  if ! is_installed "$package"; then
    echo "install-peers: $package is still not installed after apt-get install" >&2
    exit 1
  fi
done
echo "install-peers: done"
