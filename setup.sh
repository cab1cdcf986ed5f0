#!/usr/bin/env bash
# Install flowlens and what it needs, into ./.venv, on a fresh Debian/Ubuntu machine.
#
#   ./setup.sh          Graphviz, a CJK font, Chromium (the report's PDF and screenshots) +
#                       flowlens (enough for every command)
#   ./setup.sh --test   also the test tools and the Spark extra with a Java runtime
#
# The CJK font (Noto Sans CJK, Debian fonts-noto-cjk) is what renders Chinese: `--lang zh-CN`
# reports, Chinese activity names in maps and charts, and the PDF printed from the report.
#
# System packages come from apt (as root, or through sudo). Safe to run again: it only
# installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-run}"
case "$mode" in run|--test) ;; *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;; esac

say() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  [ "$#" -gt 0 ] || return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "need root or sudo to install: $*"; exit 1; }
    sudo="sudo"
  fi
  if ! command -v apt-get >/dev/null; then
    say "please install these with your package manager: $* (e.g. brew install graphviz)"; exit 1
  fi
  say "installing system packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
command -v dot >/dev/null || need+=(graphviz)
# a Chinese glyph font: without one a browser and Chromium's PDF draw empty boxes
if ! { command -v fc-list >/dev/null && fc-list ':lang=zh-cn' family | grep -qi 'noto sans cjk\|source han sans\|wenquanyi'; }; then
  need+=(fonts-noto-cjk)
fi
# headless Chromium prints report.pdf and takes the screenshots (analyze --pdf --screenshots)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
if [ "$mode" = "--test" ]; then
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
fi
apt_install "${need[@]}"

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { say "flowlens needs Python >= 3.11 (found $("$python" --version 2>&1)); set PYTHON=..."; exit 1; }
[ -x .venv/bin/python ] || { say "creating .venv"; "$python" -m venv .venv; }
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
extras=""
[ "$mode" = "--test" ] && extras="[dev,spark]"
say "installing flowlens${extras} into .venv"
.venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v '^WARNING: Location' || true
# the referee's simulation measures (flowlens fidelity); its pandas<3 pin is stricter than it
# needs (its own dependencies are flowlens's), so it is installed without re-resolving pandas
.venv/bin/python -m pip install -q --no-deps "log-distance-measures==2.2.0" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import flowlens, duckdb, ibis, babel, log_distance_measures' || { say "installation failed"; exit 1; }
say "ready: .venv/bin/flowlens --help"
