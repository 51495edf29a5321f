#!/bin/sh
# kali's front door: run an example app, or set up and run the test suite.
#
#   ./demo.sh                 list the examples
#   ./demo.sh intro           run examples/intro.py (needs nothing but Python)
#   ./demo.sh NAME --port 8090 --no-browser
#   ./demo.sh NAME --tab      open the app in a browser tab rather than a window of its own
#   ./demo.sh NAME --reload   new code takes over after every save, and the open pages refresh
#   ./demo.sh test [pytest args]   create .venv with the test tools, run every test
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python

case "${1:-}" in
  "" | list | -h | --help)
    exec "$PYTHON" examples/catalog.py
    ;;
  test)
    shift
    if [ ! -x .venv/bin/python ]; then
      echo "demo: creating .venv for the test tools" >&2
      "$PYTHON" -m venv .venv
    fi
    # Reinstall only when the requirements change.
    stamp=.venv/.kali-requirements
    if ! cmp -s tests/requirements.txt "$stamp" 2>/dev/null; then
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
      cp tests/requirements.txt "$stamp"
    fi
    exec .venv/bin/python -m pytest "$@"
    ;;
esac

name=$1
shift
if [ ! -f "examples/$name.py" ]; then
  echo "demo: no example called '$name'" >&2
  "$PYTHON" examples/catalog.py >&2
  exit 2
fi
# --port, --no-browser, --tab and --reload become the environment variables every kali app honours.
while [ $# -gt 0 ]; do
  case "$1" in
    --port) export KALI_PORT="$2"; shift 2 ;;
    --port=*) export KALI_PORT="${1#--port=}"; shift ;;
    --no-browser) export KALI_NO_BROWSER=1; shift ;;
    --tab) export KALI_WINDOW=tab; shift ;;
    --reload) export KALI_RELOAD=1; shift ;;
    *) break ;;
  esac
done
exec "$PYTHON" "examples/$name.py" "$@"
