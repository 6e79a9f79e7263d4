#!/usr/bin/env bash
# The Debian packages the test suite needs. `make test` runs this first: as root it installs
# what is missing; otherwise it stops at once with the one command to run.
set -euo pipefail

packages=(
  docker-registry # tests/support/registry_fixtures.py: a real OCI registry
  apache2-utils   # htpasswd (bcrypt) for that registry's basic auth
  jq              # tests/actions: the terraform-apply action reads Terraform's outputs with it
  chromium        # tests/integration/test_insights_report.py: the HTML report in a browser
)
# GitHub's expression engine (tests/actions/expressions) runs on Node.js, installed with npm.
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${package}" 2> /dev/null | grep -q "install ok installed" \
    || missing+=("${package}")
done
((${#missing[@]})) || exit 0

if [[ "$(id -u)" != 0 ]]; then
  echo "make test needs Debian packages that are missing; install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages the tests need: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
