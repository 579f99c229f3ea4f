#!/usr/bin/env bash
# The main job on the bundled defaults: ingest the sample video as a camera, link identities, export a report.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo-output}"
mkdir -p "$out"
video="$(bash scripts/find-sample.sh)"
db="$out/demo.db"
rw=".venv/bin/reidwatch"
echo "== sample video: $video"
echo "== database: $db"
# ingest also stitches occlusion-broken fragments and links identities; vtest.avi is nominally 7 frames/s
$rw ingest "$video" --camera entrance --start 2026-11-27T10:00:00 --fps 7 --db "$db"
$rw export-mot --camera entrance --ids track --out "$out/entrance_tracks.txt" --db "$db"
$rw export-mot --camera entrance --ids identity --out "$out/entrance_identities.txt" --db "$db"
# site adaptation: learn this scene's people from the store's own tracks (no labels), re-embed, relink
echo "== before adaptation: $($rw -q link --db "$db")"
$rw adapt --db "$db" | tee "$out/adapt.txt"
echo "== after adaptation (model card in $out/demo.models/): see the line above"
$rw export-mot --camera entrance --ids identity --out "$out/entrance_identities_adapted.txt" --db "$db"
$rw report --out "$out/report.html" --db "$db"
$rw report --out "$out/report.pdf" --db "$db"
$rw report --out "$out/report.csv" --db "$db"
$rw report --out "$out/report.json" --db "$db"
$rw info --db "$db" | tee "$out/summary.txt"
echo "== done: results in $out/"
