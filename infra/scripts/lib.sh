# Sourced by the scripts that start test services (with-services.sh, browser-tests.sh,
# openapi-check.sh): free loopback ports, services in process groups of their own, waiting
# until they answer, and stopping them whatever happens.
#
# A sourcing script sets LIB_TAG (its log prefix), then calls `services_trap` once.

LIB_TAG=${LIB_TAG:-services}
SERVICE_PIDS=()

# free_ports N: prints N distinct free loopback ports (bound together, so they differ).
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
' "$1"
}

# start_service LOG CMD...: runs CMD in a session and process group of its own (setsid),
# output to LOG, stdin closed; its pid is appended to SERVICE_PIDS (read it as
# ${SERVICE_PIDS[-1]}).
start_service() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  SERVICE_PIDS+=("$!")
}

# stop_services: TERM to every service's whole process group, KILL after 5 s.
stop_services() {
  local pid
  for pid in "${SERVICE_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${SERVICE_PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVICE_PIDS=()
}

# services_trap [EXTRA_CLEANUP_FUNCTION]: stop the services on every exit, and turn INT
# and TERM (make's timeout, Ctrl-C) into an exit that runs it.
services_trap() {
  # shellcheck disable=SC2064 # the function name is fixed now, on purpose
  trap "${1:+$1; }stop_services" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# wait_http NAME PID LOG URL [STATUS [CURL_ARGS...]]: polls URL (up to ~30 s) until it
# answers (with STATUS, when given: any answer otherwise); fails with the last lines of
# LOG when the service exits first or never answers.
wait_http() {
  local name=$1 pid=$2 log=$3 url=$4 want=${5:-} code
  shift 5 2>/dev/null || shift $#
  for _ in $(seq 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" || true)
    if [[ -n "$want" && "$code" == "$want" ]] || [[ -z "$want" && "$code" != 000 ]]; then
      echo "[$LIB_TAG] $name ready at $url (pid $pid)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "[$LIB_TAG] $name exited before answering; last log lines ($log):" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "[$LIB_TAG] $name did not answer${want:+ $want} at $url within 30 s; last log lines ($log):" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}
