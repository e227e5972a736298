#!/bin/sh
# Prepares this machine for `npm test`: installs the Debian packages the tests use (xmlsec1,
# SimpleSAMLphp with PHP, Chromium) when they are missing, and starts a local Redis on
# 127.0.0.1:6379 when none responds there. Safe to run again; it changes nothing that is ready.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
"$here/../test/peers/install-peers.sh"

redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
  else
    node -e '
      const s = require("node:net").connect(6379, "127.0.0.1");
      s.on("connect", () => s.write("PING\r\n"));
      s.on("data", (d) => process.exit(String(d).startsWith("+PONG") ? 0 : 1));
      s.on("error", () => process.exit(1));
      setTimeout(() => process.exit(1), 2000);'
  fi
}

if redis_answers; then
  echo "prepare-test-env: Redis answers on 127.0.0.1:6379"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "prepare-test-env: Redis is not running on 127.0.0.1:6379 and redis-server is not installed; install it (apt-get install redis-server) or start a Redis there" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
fi
mkdir -p /tmp/federated-signin-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp/federated-signin-redis --logfile /tmp/federated-signin-redis/redis.log
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if redis_answers; then
    echo "prepare-test-env: started Redis on 127.0.0.1:6379"
    exit 0
  fi
  sleep 0.5
done
echo "prepare-test-env: Redis did not start; see /tmp/federated-signin-redis/redis.log" >&2
exit 1
