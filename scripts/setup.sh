#!/usr/bin/env bash
# Sets up this checkout on a fresh Debian machine: system packages (ffmpeg, espeak-ng), a
# virtual environment in .venv, and the Python packages. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

apt_missing=()
command -v ffmpeg >/dev/null 2>&1 || apt_missing+=(ffmpeg)
# espeak-ng speaks the sentences the speech tests and benchmark transcribe.
command -v espeak-ng >/dev/null 2>&1 || apt_missing+=(espeak-ng)
# The web app's browser tests drive Debian's Chromium through its chromedriver (no browser download).
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_missing+=(chromium-driver)
# MiniWorld renders headless through EGL with Mesa's software rasteriser (no X server, no GPU).
have_lib() { { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q "$1"; }
have_lib 'libEGL.so.1 ' || apt_missing+=(libegl1)
have_lib 'libEGL_mesa.so.0 ' || apt_missing+=(libegl-mesa0)
have_lib 'libGL.so.1 ' || apt_missing+=(libgl1)
have_lib 'libGLU.so.1 ' || apt_missing+=(libglu1-mesa)
ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || apt_missing+=(libgl1-mesa-dri)
if [ ${#apt_missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing system packages: ${apt_missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "error: vidmem needs Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || { log "creating .venv"; "$python" -m venv .venv; }

# Re-install only when the dependency list changed since the last successful set-up.
stamp=.venv/.vidmem-setup
want=$(sha1sum pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages (first time: several minutes)"
  .venv/bin/pip install -q --upgrade pip
  # open_clip needs torchvision; these two releases are the pair pip may install on this kind of machine.
  .venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1"
  .venv/bin/pip install -q -e ".[clip,dev,robot,cluster]"
  echo "$want" > "$stamp"
fi
# The published openpi client pins numpy < 2, so it gets a venv of its own (the server tests drive
# our policy server with it); typing_extensions is a dependency its wheel forgets to declare.
if [ ! -x .venv-openpi/bin/python ] || ! .venv-openpi/bin/python -c "import openpi_client.websocket_client_policy" 2>/dev/null; then
  log "creating .venv-openpi (PyPI openpi-client)"
  "$python" -m venv .venv-openpi
  .venv-openpi/bin/pip install -q "openpi-client" "typing_extensions"
fi
log "ready: .venv/bin/vidmem"
