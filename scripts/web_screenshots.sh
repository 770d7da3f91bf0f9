#!/usr/bin/env bash
# Remake the web page's screenshots in docs/images: run the browser test, keep two of its shots
# (the Photos tab with a result, the Film tab mid-run). Usage: scripts/web_screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shots=$(mktemp -d)
trap 'rm -rf "$shots"' EXIT
FRAMECOLOR_SCREENSHOTS="$shots" python -m pytest -q -p no:cacheprovider tests/test_web_browser.py
cp "$shots/03_photo_result.png" docs/images/web_photos.png
cp "$shots/07_film_running.png" docs/images/web_film_running.png
echo "wrote docs/images/web_photos.png and docs/images/web_film_running.png"
