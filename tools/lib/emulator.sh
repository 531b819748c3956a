# The one way the repository's scripts start and stop local ECS emulators (tests, make demo,
# benchmarks). Source it from bash, from any directory:
#
#   . tools/lib/emulator.sh
#   trap emulator_stop_all EXIT                  # the caller owns its traps
#   emulator_start url [START OPTIONS...] || exit 1
#   emulator_env "$url"                          # optional: ECS_ENDPOINT & co. for child processes
#
# emulator_start VAR [START OPTIONS...]
#     Starts an emulator on a free loopback port with a temporary state dir of its own and puts
#     its URL into the variable VAR (with --tls, the CA file into VAR_ca_file as well). START
#     OPTIONS are those of `emulator/ecs-emulator start` but --port and --state-dir: --speed S,
#     --workers N, --tls, --no-nonce-check, --access-keys FILE. Call it in the caller's shell, not
#     in $(...), so that emulator_stop_all knows the emulator. On failure it returns 1 and the
#     emulator's message is on stderr.
# emulator_stop_all
#     Stops every emulator emulator_start started in this shell and removes their state dirs.
# emulator_env URL [CA_FILE]
#     Exports ECS_ENDPOINT and ECS_EMULATOR_ENDPOINT (the specs' variable) as URL, the emulator's
#     test credentials (ALIBABA_CLOUD_ACCESS_KEY_ID=testid, ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret)
#     and, when given, ECS_EMULATOR_CA_FILE.
# EMULATOR_CLI is the path of emulator/ecs-emulator in this repository.

EMULATOR_CLI="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/emulator/ecs-emulator"
_emulator_started=()   # "port state_dir" of each emulator started here

emulator_start() {
  local _emu_var="$1" _emu_out _emu_dir _emu_url _emu_ca _emu_arg
  shift
  for _emu_arg in "$@"; do
    case "$_emu_arg" in
      --port|--port=*|--state-dir|--state-dir=*)
        echo "emulator_start: $_emu_arg is chosen by emulator_start" >&2; return 1 ;;
    esac
  done
  _emu_dir=$(mktemp -d "${TMPDIR:-/tmp}/lua-ecs-emulator.XXXXXX") || return 1
  if ! _emu_out=$("$EMULATOR_CLI" start --state-dir "$_emu_dir" "$@"); then
    rm -rf "$_emu_dir"
    return 1
  fi
  _emu_url=$(printf '%s\n' "$_emu_out" | sed -n 1p)
  _emu_ca=$(printf '%s\n' "$_emu_out" | sed -n 's/^ca_file=//p')
  _emulator_started+=("${_emu_url##*:} $_emu_dir")
  printf -v "$_emu_var" '%s' "$_emu_url"
  [ -z "$_emu_ca" ] || printf -v "${_emu_var}_ca_file" '%s' "$_emu_ca"
  return 0
}

emulator_stop_all() {
  local _emu_entry _emu_port _emu_dir
  for _emu_entry in ${_emulator_started[@]+"${_emulator_started[@]}"}; do
    _emu_port=${_emu_entry%% *} _emu_dir=${_emu_entry#* }
    "$EMULATOR_CLI" stop --port "$_emu_port" >/dev/null 2>&1 ||
      { [ -f "$_emu_dir/nginx.pid" ] && kill "$(cat "$_emu_dir/nginx.pid")" 2>/dev/null; }
    rm -rf "$_emu_dir"
  done
  _emulator_started=()
}

emulator_env() {
  export ECS_ENDPOINT="$1" ECS_EMULATOR_ENDPOINT="$1"
  export ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret
  if [ -n "${2:-}" ]; then export ECS_EMULATOR_CA_FILE="$2"; fi
}
