#!/usr/bin/env bash
# PID 1 on the Fly machine: starts the app (the command given as arguments) and sluice in
# front of it, forwards signals, and exits when sluice has drained.
#
#   SIGTERM/SIGINT -> sluice drains (readyz 503, queue shed, in-flight finish up to
#                     shutdown.drain_timeout) while the app keeps serving; then the app is
#                     stopped and the script exits with sluice's status.
#   SIGHUP         -> sluice re-reads its config (live limits).
#   app exits      -> sluice is drained and stopped; exit 1 so Fly restarts the machine.
set -uo pipefail

config="${SLUICE_CONFIG:-/app/proxy.toml}"
export PORT="${PORT:-3000}"

# The app keeps the entrypoint's stdin (bash would give a background job /dev/null).
"$@" <&0 &
app=$!
sluice --config "$config" &
proxy=$!

trap 'kill -TERM "$proxy" 2>/dev/null' TERM INT
trap 'kill -HUP "$proxy" 2>/dev/null' HUP

# `wait -n` also returns when a trapped signal arrives: keep waiting while both run.
while kill -0 "$proxy" 2>/dev/null && kill -0 "$app" 2>/dev/null; do
    wait -n
done

if kill -0 "$proxy" 2>/dev/null; then
    echo "entrypoint: the app exited; draining sluice" >&2
    kill -TERM "$proxy" 2>/dev/null
    wait "$proxy"
    exit 1
fi
wait "$proxy"
status=$?
kill -TERM "$app" 2>/dev/null
wait "$app" 2>/dev/null
exit "$status"
