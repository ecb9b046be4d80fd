#!/usr/bin/env bash
# Run the scim2-tester compliance checks against a live SCIM 2.0 server.
#
#   conformance/scim2-tester.sh [--url URL] [--token TOKEN] [--require GROUPS] [...]
#   conformance/scim2-tester.sh --install-only
#
# URL and token default to $SCIM_URL and $SCIM_TOKEN. Every other option goes to
# run_scim2_tester.py (see its --help). The first run creates a virtualenv in
# conformance/.venv (or $SCIM2_TESTER_VENV) with the versions pinned in
# requirements.txt, and later runs reuse it until requirements.txt changes.
# Exit status: 0 when the required groups passed, 1 when a check failed, 2 on a
# usage, install or connection error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCIM2_TESTER_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

fail() {
  echo "scim2-tester.sh: error: $*" >&2
  exit 2
}

install_venv() {
  command -v "$python" >/dev/null || fail "$python not found; install Python 3.11 or newer, or set PYTHON"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "scim2-tester needs Python 3.11 or newer, but $python is $("$python" -V 2>&1)"

  local wanted
  wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return
  fi

  echo "scim2-tester.sh: installing $(grep -m1 '^scim2-tester' "$requirements") into $venv" >&2
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >&2; then
    rm -rf "$venv"
    fail "'$python -m venv' failed; on Debian install it with: apt-get install -y python3-venv"
  fi
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
      -r "$requirements" >&2; then
    rm -rf "$venv"
    fail "pip install -r $requirements failed (see the pip output above)"
  fi
  echo "$wanted" >"$stamp"
}

install_venv
if [[ "${1:-}" == "--install-only" ]]; then
  exit 0
fi

exec "$venv/bin/python" "$here/run_scim2_tester.py" "$@"
