# shellcheck shell=bash
# Helpers shared by the device scripts (train.sh, check.sh): source this file; it only defines functions.
#
#   qw_prepare PY            here, once: download what carry.txt lists into .whl/ and .gl/ (git-excluded)
#   qw_device_setup PY SITE LOG
#                            there: unpack the .gl debs (as root), pip-install the .whl wheels into SITE
#                            and put SITE on PYTHONPATH; LOG is a function name called with one message
#
# Both run in the repository root. Nothing is downloaded by qw_device_setup (the device machine has no
# network); a missing .whl/ or .gl/ is skipped, not an error. On a machine without an NVIDIA GPU
# (qw_on_device false: a dev or CI machine) qw_device_setup does nothing: it would write into / there.

QW_DEVICE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QW_CARRY_LIST="$QW_DEVICE_DIR/carry.txt"

# The items of one kind (wheel | deb) of carry.txt, one per line.
qw_carry_items() {
  awk -v kind="$1" '$1 == kind { print $2 }' "$QW_CARRY_LIST"
}

qw_prepare() {
  local py="$1" spec
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >> .git/info/exclude
  mkdir -p .whl .gl
  for spec in $(qw_carry_items wheel); do
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$spec" \
      || echo "warning: could not fetch $spec (the device run may miss it)" >&2
  done
  mkdir -p /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086,SC2046
  apt-get $o update -qq && (cd .gl && apt-get $o download $(qw_carry_items deb))
  du -sh .whl .gl
}

# True on a machine with an NVIDIA GPU (the device machine); the setup below only runs there.
qw_on_device() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

qw_device_setup() {
  local py="$1" site="$2" log="$3"
  if ! qw_on_device; then
    # Not the device: unpacking the debs would overwrite this machine's system GL libraries, and the
    # wheels are CPython 3.12 builds. Everything here comes from the local environment instead.
    "$log" "no NVIDIA GPU here: device setup skipped (.gl/ and .whl/ are for the device machine)"
    return 0
  fi
  if [ -d .gl ] && ls .gl/*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    local f
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    if [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
      export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    fi
    "$log" "unpacked the GL loader debs from .gl/"
  fi
  if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    "$log" "installed $(ls .whl/*.whl | wc -l) wheels from .whl/ into $site"
  fi
}
