#!/bin/sh
# PostgreSQL for one stack, the same on both runtimes (the local runtime runs this script as a
# process, postgres.Containerfile as its command): a fresh cluster at every start, so it always
# holds this stack's password and nothing of an earlier run; the server then replaces the shell.
#   PGDATA          the cluster's directory (made afresh; its parent holds the socket)
#   MCPBENCH_PG_PORT, MCPBENCH_PG_MAX_CONNECTIONS, MCPBENCH_PG_USER, MCPBENCH_PG_DATABASE
#   MCPBENCH_PG_PASSWORD   written to a 0600 file for initdb, removed at once
set -eu
umask 077
rm -rf "$PGDATA"
mkdir -p "$PGDATA"
password_file="$PGDATA.password"
printf '%s\n' "$MCPBENCH_PG_PASSWORD" > "$password_file"
initdb -D "$PGDATA" -U "$MCPBENCH_PG_USER" --pwfile="$password_file" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 --no-sync > /dev/null
rm -f "$password_file"
echo "CREATE DATABASE \"$MCPBENCH_PG_DATABASE\";" \
  | postgres --single -D "$PGDATA" -c listen_addresses='' postgres > /dev/null
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -p "$MCPBENCH_PG_PORT" \
  -k "$(dirname "$PGDATA")" -c max_connections="$MCPBENCH_PG_MAX_CONNECTIONS"
