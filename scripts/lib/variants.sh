# Shared by scripts/sanitize and scripts/fuzz: configuring and building the sanitizer and fuzzer
# variants of the build, each in a directory of its own. Source it after common.sh.

# configure_variant DIR CMAKE_ARGS... : configures DIR once (again only when the arguments
# change, so a second run is incremental).
configure_variant() {
  local dir="$1"
  shift
  local stamp="$dir/.roomcast-configure-args"
  if [ -f "$dir/CMakeCache.txt" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then
    return 0
  fi
  log "configuring ${dir#"$ROOT"/} ($*)"
  # A fresh cache, so that options dropped from the arguments do not linger; the object files
  # stay and are rebuilt only where the flags changed.
  rm -f "$dir/CMakeCache.txt"
  cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  printf '%s' "$*" >"$stamp"
}

# The GoogleTest binaries a configured DIR defines: every target named *_test (the convention
# of roomcast_test() in CMakeLists.txt).
test_targets() {
  cmake --build "$1" --target help | sed -n 's/^\.\.\. \([A-Za-z0-9_]*_test\)$/\1/p' | sort
}

# Prints "M:SS" for a number of seconds.
format_duration() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
