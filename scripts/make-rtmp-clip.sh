#!/usr/bin/env bash
# Makes the restream family's test clip, scenarios/testdata/clip.flv: two
# seconds of real H.264 (160x90, 10 fps, a keyframe every 10 frames,
# baseline profile, no B-frames) and AAC-LC (22.05 kHz mono), a few KB.
# The simulated OBS (scenarios/src/restream/peers/obs.rs) publishes its FLV
# tags in a loop with rewritten timestamps. Run once; the clip is committed.
# Needs ffmpeg with libx264 (scripts/install-rtmp-peers.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=scenarios/testdata/clip.flv
mkdir -p "$(dirname "$out")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc=size=160x90:rate=10" \
  -f lavfi -i "sine=frequency=440:sample_rate=22050" \
  -t 2 \
  -c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency \
  -g 10 -keyint_min 10 -sc_threshold 0 -bf 0 -b:v 16k -maxrate 16k -bufsize 16k \
  -pix_fmt yuv420p \
  -c:a aac -b:a 12k -ac 1 \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -f flv "$out"
echo "make-rtmp-clip: wrote $out ($(stat -c %s "$out") bytes)"
