#!/usr/bin/env bash
# A private Docker engine for the compose test, everything under one folder:
#   bash ops/compose/dockerd.sh start DIR   # prints nothing; DOCKER_HOST=unix://DIR/docker.sock
#   bash ops/compose/dockerd.sh stop DIR    # stops it (its containers die with it) and removes DIR
# Needs root and Debian's docker.io. --iptables=false: no NAT, so containers reach only each other
# on their compose network and the host through ports published on 127.0.0.1; builds that need the
# registries use --network host. --bridge=none: no docker0 (nothing uses the default bridge).
set -euo pipefail
cmd="$1"; dir="$2"
case "$cmd" in
  start)
    mkdir -p "$dir/data" "$dir/exec"
    dockerd --iptables=false --ip-masq=false --bridge=none \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
      -H "unix://$dir/docker.sock" >"$dir/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1 && exit 0
      kill -0 $! 2>/dev/null || { tail -20 "$dir/dockerd.log"; exit 1; }
      sleep 1
    done
    tail -20 "$dir/dockerd.log"; echo "dockerd did not answer in 60 s" >&2; exit 1
    ;;
  stop)
    if [ -s "$dir/docker.pid" ]; then
      pid="$(cat "$dir/docker.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    # Mounts left by a dockerd that died hard (overlay layers, container shm) block the removal.
    grep -o " $dir/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
