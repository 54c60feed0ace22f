#!/usr/bin/env bash
# .ci/postgres.sh: run a command against a throwaway PostgreSQL 15 cluster.
#
#   .ci/postgres.sh -- ctest --test-dir build/test -R 'postgres|sql'
#
# Installs PostgreSQL 15 from Debian when initdb is missing, creates a cluster as the
# postgres user (initdb refuses root) in a temporary directory, listens on a unix socket
# there and on 127.0.0.1 at a free port, prints the connection string and runs the command
# with MILLRACE_TEST_PG set to it. The cluster is stopped and removed at the end, whatever
# happens (the command's exit status is the script's).
set -euo pipefail

if [[ "${1:-}" == "--" ]]; then shift; fi
if [[ $# -eq 0 ]]; then
  echo "usage: $0 -- <command> [args...]" >&2
  exit 2
fi

pg_bin=""
for d in /usr/lib/postgresql/15/bin; do
  [[ -x "$d/initdb" ]] && pg_bin="$d"
done
if [[ -z "$pg_bin" ]]; then
  echo "postgres.sh: installing PostgreSQL 15 from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 libpq-dev >/dev/null
  pg_bin=/usr/lib/postgresql/15/bin
fi

as_pg=()
if [[ "$(id -u)" == 0 ]]; then
  as_pg=(runuser -u postgres --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/millrace-pg-XXXXXX")"
chmod 755 "$dir"
[[ ${#as_pg[@]} -gt 0 ]] && chown postgres: "$dir"
data="$dir/data"

cleanup() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# A free port on the loopback interface (asked of the kernel, then released).
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"

"${as_pg[@]}" "$pg_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
CONF
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }

export MILLRACE_TEST_PG="host=127.0.0.1 port=$port user=postgres dbname=postgres"
# The data directory and pg_ctl, for the tests that restart the server under load.
export MILLRACE_TEST_PG_DATA="$data"
export MILLRACE_TEST_PG_CTL="${as_pg[*]} $pg_bin/pg_ctl"
echo "MILLRACE_TEST_PG=$MILLRACE_TEST_PG"
set +e
"$@"
status=$?
set -e
exit $status
