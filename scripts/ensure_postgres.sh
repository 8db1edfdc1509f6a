#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use answers; start the local cluster if it does not.
set -euo pipefail
host=127.0.0.1
port=5432
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && ls /etc/postgresql >/dev/null 2>&1; then
  echo "PostgreSQL is not answering; starting the local cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" && exit 0
    sleep 1
  done
fi
echo "PostgreSQL at $host:$port is not reachable; the database tests need it (see README)." >&2
exit 1
