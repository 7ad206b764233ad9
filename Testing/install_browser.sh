#!/usr/bin/env bash
# What the browser tests need from Debian: chromium (driven by the playwright Python package) and
# the Mesa EGL libraries VTK renders the app's views with when there is no display.
set -euo pipefail
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
for lib in libegl1 libegl-mesa0 libgl1-mesa-dri; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || packages+=("$lib")
done
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${packages[@]}"
