#!/usr/bin/env bash
# Makes a Debian bookworm minbase root file system as a tar (the base of every local image of the
# compose test: no registry image can be pulled here).
#   bash ops/compose/rootfs.sh OUT.tar
# Needs root and debootstrap. Takes about 3 minutes; the caller caches OUT.tar.
set -euo pipefail
out="$1"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase bookworm "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1 \
  || { tail -30 "$dir/debootstrap.log"; exit 1; }
# Security updates too, as the official images carry them.
cat >"$dir/root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
LIST
# The host's CA bundle: registries are reached through this machine's TLS setup.
cp /etc/ssl/certs/ca-certificates.crt "$dir/root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || {
  mkdir -p "$dir/root/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$dir/root/etc/ssl/certs/"; }
rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
tar -C "$dir/root" -cf "$out.partial" .
mv "$out.partial" "$out"
