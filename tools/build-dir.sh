# Sourced by tools/test.sh, tools/run-dev.sh and tools/mkdeb.sh (after tools/setup.sh):
#   build_dir DIR MESON-OPTIONS...
# configures DIR against the wolfSSL that .deps/wolfssl points at. meson keeps the library path
# it resolved when DIR was first configured, and --reconfigure does not look again: a directory
# from before a wolfSSL flag change (a new /var/cache/mpsd key) would go on linking the old build,
# or Debian's. So DIR records the wolfSSL prefix it was set up with, and is wiped and set up
# afresh when that changed.
build_dir() {
  local dir=$1 top want have
  shift
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  want=$(readlink -f "$top/.deps/wolfssl")
  have=$(cat "$dir/.mpsd-wolfssl" 2>/dev/null || true)
  local pc="--pkg-config-path=$top/.deps/wolfssl/lib/pkgconfig"
  if [ -f "$dir/build.ninja" ] && [ "$have" = "$want" ]; then
    meson setup --reconfigure "$dir" "$pc" "$@" >/dev/null
  elif [ -f "$dir/build.ninja" ]; then
    echo "== $dir was set up against ${have:-another wolfSSL}: wiping it for $want" >&2
    meson setup --wipe "$dir" "$pc" "$@" >/dev/null
  else
    meson setup "$dir" "$pc" "$@" >/dev/null
  fi
  echo "$want" >"$dir/.mpsd-wolfssl"
}
