#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on loopback: start them when they are
# installed but stopped, or say exactly how to get them.
set -u

pg_up() { pg_isready -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

status=0

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "PostgreSQL client tools are missing. Install them: apt-get install -y postgresql (Debian/Ubuntu)." >&2
  status=1
elif ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
  if ! pg_up; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432. Install it (apt-get install -y postgresql) and start it," >&2
    echo "or set DATABASE_URL to a server you have." >&2
    status=1
  fi
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  fi
  if ! redis_up; then
    echo "Redis is not answering on 127.0.0.1:6379. Install it (apt-get install -y redis-server) and start it," >&2
    echo "or set REDIS_URL to a server you have." >&2
    status=1
  fi
fi

exit $status
