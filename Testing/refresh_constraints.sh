#!/usr/bin/env bash
# Refresh constraints.txt: in a new virtual environment, install the project with every extra at
# the newest versions its pyproject.toml ranges allow, then pin everything that came in. Run the
# test suite with the new file (the README's test command) before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q torch==2.13.0 -e ".[test,web,train,slicer,evaluation]"
{
    echo "# Every dependency at the version CI tested: pip install -c constraints.txt ..."
    echo "# Written by Testing/refresh_constraints.sh on $(date -u +%F) with $("$work/venv/bin/python" --version)."
    echo "# The CPU and CUDA builds of torch share a version; pin the version, not the build."
    "$work/venv/bin/python" -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]*)\+.*/\1/'
} > constraints.txt.partial
mv constraints.txt.partial constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned"
