# lib.sh holds what the .ci server scripts share; they source it. The caller
# sets pidfile (the pid of the server it starts) and logfile (its output)
# before calling stop_started or wait_started.

# answers PORT succeeds when something accepts TCP connections on
# 127.0.0.1:PORT.
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_started NAME stops the server in $pidfile, only if that process is
# still NAME (its command line holds NAME), waits up to 5 s for it to end,
# and removes the pid file.
stop_started() {
	local pid
	if [[ -f "$pidfile" ]]; then
		pid="$(cat "$pidfile")"
		if kill -0 "$pid" 2>/dev/null && grep -q "$1" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid"
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$pidfile"
	fi
}

# wait_started SCRIPT NAME PORT SECONDS waits until the server in $pidfile
# answers on 127.0.0.1:PORT and returns; when it exits first, or does not
# answer within SECONDS, it prints why and $logfile and exits 1.
wait_started() {
	local script="$1" name="$2" port="$3" seconds="$4"
	for _ in $(seq $((seconds * 10))); do
		if answers "$port"; then
			return 0
		fi
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			echo "$script: $name exited:" >&2
			cat "$logfile" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "$script: $name did not answer on 127.0.0.1:$port within $seconds s" >&2
	cat "$logfile" >&2
	exit 1
}
