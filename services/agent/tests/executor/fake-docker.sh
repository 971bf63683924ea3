# A stand-in for the `docker` CLI in tests (there is no Docker daemon where they run). The test
# writes it out as an executable `docker`, after `#!/bin/bash` and a line setting
# FAKE_DOCKER_STATE, a directory of its own:
#
# - every invocation appends its arguments, shell-quoted, as one line to $FAKE_DOCKER_STATE/calls;
# - `run [options] IMAGE -c CMD` runs `bash -c CMD` (the "container") in the `-w` directory with
#   the `-e` variables, records its pid in $FAKE_DOCKER_STATE/<--name>.pid, waits for it and
#   exits with its status. A SIGTERM the client itself gets is recorded in
#   $FAKE_DOCKER_STATE/client-signals (a real client would die of it, or forward it);
# - `kill --signal SIG NAME` signals the container ("No such container" when there is none);
# - `rm -f NAME` SIGKILLs it if it is there, and succeeds either way;
# - `ps --all --filter name=PREFIX --format {{.Names}}` lists every container there is, one
#   name per line: more than a real one (whose filter matches the name anywhere), so that the
#   caller's own check of the prefix is tested;
# - `stop -t SECS NAME` SIGTERMs it, waits up to SECS for it to go, then SIGKILLs it.
#
# A test may also make a "container" by hand: $FAKE_DOCKER_STATE/<name>.pid with its pid.
#
# Unlike a real one, the container is a child of the client: the executor's process tracking
# sees it too.

set -u
state=$FAKE_DOCKER_STATE
line=$(printf '%q ' "$@")
echo "${line% }" >>"$state/calls"

no_such() {
	echo "Error response from daemon: No such container: $1" >&2
	exit 1
}

run() {
	local name='' workdir=.
	local -a envs=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--rm | --init | --sig-proxy=*) shift ;;
		--name) name=$2 && shift 2 ;;
		--network | -v | --entrypoint) shift 2 ;;
		-w) workdir=$2 && shift 2 ;;
		-e) envs+=("$2") && shift 2 ;;
		--*=*) shift ;;
		*) break ;;
		esac
	done
	if [ $# -ne 3 ] || [ "$2" != -c ] || [ -z "$name" ]; then
		echo "fake docker: cannot run $*" >&2
		exit 125
	fi
	cd "$workdir" || exit 125
	trap 'echo "$name TERM" >>"$state/client-signals"' TERM
	env "${envs[@]}" bash -c "$3" &
	local child=$!
	echo "$child" >"$state/$name.pid"
	# `wait` returns early when the trap runs; the child's own status comes last.
	while kill -0 "$child" 2>/dev/null; do
		wait "$child"
	done
	wait "$child"
	local status=$?
	rm -f "$state/$name.pid"
	exit "$status"
}

case "${1:-}" in
run)
	shift
	run "$@"
	;;
kill)
	[ "$2" = --signal ] || exit 2
	pid=$(cat "$state/$4.pid" 2>/dev/null) || no_such "$4"
	kill -s "$3" "$pid" 2>/dev/null || no_such "$4"
	;;
rm)
	[ "$2" = -f ] || exit 2
	if pid=$(cat "$state/$3.pid" 2>/dev/null); then
		kill -KILL "$pid" 2>/dev/null
		rm -f "$state/$3.pid"
	fi
	exit 0
	;;
ps)
	[ "$2" = --all ] && [ "$3" = --filter ] && [ "$5" = --format ] || exit 2
	for file in "$state"/*.pid; do
		[ -e "$file" ] || continue
		name=${file##*/}
		echo "${name%.pid}"
	done
	;;
stop)
	[ "$2" = -t ] || exit 2
	pid=$(cat "$state/$4.pid" 2>/dev/null) || no_such "$4"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq $(($3 * 10))); do
		# Gone, or a zombie (a container made by hand is a child of the test).
		state_letter=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
		[ -z "$state_letter" ] || [ "$state_letter" = Z ] && break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	rm -f "$state/$4.pid"
	;;
*)
	echo "fake docker: unsupported: $*" >&2
	exit 2
	;;
esac
