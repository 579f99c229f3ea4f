#!/usr/bin/env bash
# Debian packages reidwatch needs.
#   bash scripts/system-deps.sh        everything the test suite needs: the GStreamer RTSP test server (live
#                                      tests), Chromium and poppler (report rendering checks), OpenCV's sample
#                                      data (vtest.avi and still images), fonts, the GL/XCB libraries Qt needs
#                                      offscreen and in a real X window, and Xvfb with a small window manager
#                                      (openbox) for the real-window smoke test
#   bash scripts/system-deps.sh ui     only what the desktop application needs to open a window (make demo)
# The xcb list is what Qt's xcb platform plugin links (ldd libqxcb.so, libQt6XcbQpa.so.6); ui/command.py
# checks the same libraries before starting and names any that are missing.
# Idempotent; runs apt-get only when something is missing. Needs root (CI runs as root) or sudo.
set -euo pipefail
UI_PKGS=(
  libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 fonts-dejavu-core
  libx11-6 libx11-xcb1 libxcb1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
  libxcb-xinerama0 libxcb-xkb1 libxcb-randr0
)
TEST_PKGS=(
  python3-gi gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  chromium poppler-utils opencv-doc
  xvfb openbox
  postgresql
  rabbitmq-server
)
case "${1:-all}" in
  ui) PKGS=("${UI_PKGS[@]}") ;;
  all) PKGS=("${UI_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [all|ui]" >&2; exit 2 ;;
esac
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all present"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "system-deps: missing ${missing[*]}; run this script as root" >&2; exit 1; fi
else SUDO=""; fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
