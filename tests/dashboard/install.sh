#!/usr/bin/env bash
# The browser the dashboard is tested in (crates/aiaas/tests/interop/dashboard.rs): Debian's
# chromium and its WebDriver, chromium-driver, from the release's package archive, and selenium
# from PyPI to drive them.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version
python3 -m pip install --quiet --disable-pip-version-check 'selenium==4.38.0'
