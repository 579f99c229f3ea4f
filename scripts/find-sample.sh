#!/usr/bin/env bash
# Prints the path of the sample video (vtest.avi, PETS 2009 S2.L1 view 1, from OpenCV's samples).
# Looks at $REIDWATCH_SAMPLE_VIDEO, ../shared/data, the Debian opencv-doc package, a previous download;
# online it downloads OpenCV's samples/data/vtest.avi into data/. Otherwise says how to get one.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
for c in "${REIDWATCH_SAMPLE_VIDEO:-}" "$here/../shared/data/vtest.avi" \
         /usr/share/doc/opencv-doc/examples/data/vtest.avi "$here/data/vtest.avi"; do
  if [ -n "$c" ] && [ -s "$c" ]; then echo "$c"; exit 0; fi
done
url="https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi"
mkdir -p "$here/data"
if command -v curl >/dev/null && curl -fsSL --max-time 120 -o "$here/data/vtest.avi.part" "$url" 2>/dev/null; then
  mv "$here/data/vtest.avi.part" "$here/data/vtest.avi"; echo "$here/data/vtest.avi"; exit 0
fi
rm -f "$here/data/vtest.avi.part"
cat >&2 <<MSG
reidwatch: no sample video found. Get one of:
  - set REIDWATCH_SAMPLE_VIDEO=/path/to/any/video.avi
  - Debian/Ubuntu: sudo apt-get install opencv-doc   (installs examples/data/vtest.avi)
  - download $url to data/vtest.avi
MSG
exit 1
