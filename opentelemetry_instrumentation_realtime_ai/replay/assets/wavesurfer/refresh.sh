#!/usr/bin/env bash
# Refresh the vendored wavesurfer.js from the npm registry: bash refresh.sh [VERSION] (default: latest 7.x).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "wavesurfer.js@${1:-7}" >/dev/null && tar xzf wavesurfer.js-*.tgz)
cp "$work/package/dist/wavesurfer.min.js" "$work/package/LICENSE" "$here/"
node -p "require('$work/package/package.json').version" > "$here/VERSION" 2>/dev/null \
  || python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" "$work/package/package.json" > "$here/VERSION"
echo "wavesurfer.js $(cat "$here/VERSION") vendored in $here"
