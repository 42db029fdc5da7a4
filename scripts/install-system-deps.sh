#!/usr/bin/env bash
# System packages the tests need: Xvfb for Qt windows with GL, Qt's xcb libraries, Mesa's EGL/GL, and
# PulseAudio's client library, which Qt Multimedia loads to play a take's sound.
# Does nothing when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail
packages=(xvfb libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
          libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libegl1 libegl-mesa0 libgl1
          libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 libpulse0)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
