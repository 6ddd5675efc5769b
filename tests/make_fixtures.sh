#!/usr/bin/env bash
# Makes the speech WAVs of tests/fixtures (16 kHz mono 16-bit) with espeak-ng and sox:
#   apt-get install -y espeak-ng sox && bash tests/make_fixtures.sh
# The tests read the committed WAVs and never need these tools. No dither (-D): the output is the same
# on every run.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/fixtures"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() {  # say NAME TEXT: one sentence, trimmed of espeak's own leading/trailing silence
  espeak-ng -v en-us -s 165 -w "$tmp/$1.raw.wav" "$2"
  sox -D "$tmp/$1.raw.wav" -r 16000 -c 1 -b 16 "$tmp/$1.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
}

say hello "Hello there,"
say howareyou "how are you today?"
say weather "What is the weather like in Paris?"
say incomplete "I would like to order"
say thanks "Thank you, that is all."

# One utterance the VAD splits in two: "Hello there, | how are you today?" with a 0.45 s pause.
sox -D -n -r 16000 -c 1 -b 16 "$tmp/pause.wav" trim 0 0.45
sox -D "$tmp/hello.wav" "$tmp/pause.wav" "$tmp/howareyou.wav" "$out/split.wav"
cp "$tmp/weather.wav" "$out/weather.wav"
cp "$tmp/incomplete.wav" "$out/incomplete.wav"
cp "$tmp/thanks.wav" "$out/thanks.wav"
ls -l "$out"/*.wav
