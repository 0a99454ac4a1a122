# Sourced by the install scripts of the test servers: one virtualenv per server, its pins exact, left alone when a
# stamp inside it says it holds these pins already. Needs ROOT, PYTHON, VENV_STAMP (the stamp's file name) and log().

# pip prints one warning per package for this machine's unreachable extra local indexes: drop those lines.
# pipefail keeps pip's own exit status.
quiet_pip() { "$@" 2>&1 | { grep -v "^WARNING: Location 'file:///" || true; }; }

make_venv() {  # name, pins...
  local name=$1; shift
  local venv="$ROOT/$name" stamp="$ROOT/$name/$VENV_STAMP"
  local want; want=$(printf '%s\n' "$@")
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "$name: up to date"
    return
  fi
  local t; t=$(date +%s)
  log "$name: installing $*"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  quiet_pip "$venv/bin/pip" install --quiet --upgrade pip
  quiet_pip "$venv/bin/pip" install --quiet "$@"
  "$venv/bin/pip" check >/dev/null 2>&1 || log "$name: pip check reports conflicts"
  printf '%s\n' "$want" >"$stamp"
  log "$name: done in $(( $(date +%s) - t )) s"
}
