#!/bin/sh
# Redis for one stack, the same on both runtimes (the local runtime runs this script as a process,
# redis.Containerfile as its command): its password in a 0600 configuration file rather than on a
# command line every `ps` shows, nothing persisted; the server then replaces the shell.
#   MCPBENCH_REDIS_DIR       its working directory (the configuration file goes there)
#   MCPBENCH_REDIS_PORT, MCPBENCH_REDIS_PASSWORD
set -eu
umask 077
mkdir -p "$MCPBENCH_REDIS_DIR"
config="$MCPBENCH_REDIS_DIR/redis.conf"
printf 'bind 127.0.0.1\nport %s\nrequirepass %s\nsave ""\nappendonly no\ndir %s\n' \
  "$MCPBENCH_REDIS_PORT" "$MCPBENCH_REDIS_PASSWORD" "$MCPBENCH_REDIS_DIR" > "$config"
exec redis-server "$config"
