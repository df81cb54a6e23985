#!/usr/bin/env bash
# Installs the restream family's real peers from the distribution's packages:
# ffmpeg (publisher, and ffprobe, the judge), nginx and its RTMP module
# (libnginx-mod-rtmp: the three platform ingests). Idempotent: nothing is
# installed when `ffmpeg`, `ffprobe`, `nginx` and the module are all there.
# About a minute the first time (apt-get update, then ~100 MB of packages).
# Exits 0 when everything is present, 2 with one line saying why not.
set -euo pipefail

module_present() {
  ls /usr/lib/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1 \
    || ls /usr/share/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1
}

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
module_present || missing+=(libnginx-mod-rtmp)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-rtmp-peers: up to date (ffmpeg, ffprobe, nginx, libnginx-mod-rtmp)"
  exit 0
fi
# One package name once each, in a stable order.
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-rtmp-peers: error: missing ${pkgs[*]} and no apt-get to install them; install ffmpeg, nginx and libnginx-mod-rtmp" >&2
  exit 2
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install-rtmp-peers: error: missing ${pkgs[*]}; installing needs root (run: apt-get install ${pkgs[*]})" >&2
    exit 2
  fi
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
  echo "install-rtmp-peers: error: apt-get install ${pkgs[*]} failed: $(tail -n 1 "$log")" >&2
  exit 2
fi
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null || ! command -v nginx >/dev/null || ! module_present; then
  echo "install-rtmp-peers: error: installed ${pkgs[*]} but ffmpeg, ffprobe, nginx or ngx_rtmp_module.so is still missing" >&2
  exit 2
fi
echo "install-rtmp-peers: installed ${pkgs[*]}"
