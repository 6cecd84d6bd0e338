#!/bin/bash
# bench/probe/run.sh: "who holds port P?" at 10, 200 and 1000 listening
# sockets, berth's paths against lsof and ss, side by side in one run.
#
# For each size a helper process (bench_probe hold) listens on that many
# ephemeral ports (every 5th on ::1, the rest on 127.0.0.1), and one separate
# process (bench_probe target) listens on the target port. Then:
#   - in-process, median of n runs (clock_gettime): berth's "is it listening"
#     (sock_diag dump; and /proc/net/tcp{,6} for comparison), the owner with a
#     hint pid (dump + that pid's fds), the owner unknown (dump + one /proc
#     sweep), and the sweep alone;
#   - as processes, with hyperfine (or a timed loop): `bench_probe whose PORT`
#     (a full lookup, exec included), `lsof -nP -iTCP:P -sTCP:LISTEN -t` and
#     `ss -Hltnp sport = :P`.
#
# Then the same again with the process population topped up (bench_probe
# crowd: idle processes holding 12 fds each) to BENCH_CROWD processes, the
# population reference/performance.md §3 was measured with (~290 processes).
#
# Environment: BENCH_PROBE (the bench_probe binary; default build/bench/bench_probe),
# BENCH_PORT (target port, default 24601), BENCH_SIZES ("10 200 1000"),
# BENCH_RUNS (in-process runs, default 200; the sweep gets a quarter),
# BENCH_EXT_RUNS (runs per external command, default 30), BENCH_CROWD (total
# processes for the second pass, default 290; 0 skips it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BENCH_PROBE:-$root/build/bench/bench_probe}
PORT=${BENCH_PORT:-24601}
SIZES=${BENCH_SIZES:-"10 200 1000"}
RUNS=${BENCH_RUNS:-200}
EXT_RUNS=${BENCH_EXT_RUNS:-30}
CROWD=${BENCH_CROWD:-290}
CROWD_FDS=12
V6_EVERY=5
READY_TIMEOUT=20

die() {
	echo "run.sh: $*" >&2
	exit 1
}

[ -x "$BIN" ] || die "no benchmark binary '$BIN'; build it first: ninja -C build bench/bench_probe"

# The peers and hyperfine are Debian packages: install what is missing when we can.
have() { command -v "$1" >/dev/null 2>&1; }
ensure() { # COMMAND PACKAGE
	have "$1" && return 0
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "# installing $2" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
	fi
	have "$1" || echo "# $1 not available: its column is left empty" >&2
}
ensure lsof lsof
ensure ss iproute2
ensure hyperfine hyperfine
have jq || have python3 || ensure jq jq

tmp=$(mktemp -d)
declare -A proc_pid proc_in proc_out

stop_proc() { # NAME
	local name=$1 fd
	[ -n "${proc_pid[$name]:-}" ] || return 0
	fd=${proc_in[$name]}
	exec {fd}>&-
	fd=${proc_out[$name]}
	exec {fd}<&-
	wait "${proc_pid[$name]}" 2>/dev/null || true
	unset "proc_pid[$name]"
}

cleanup() {
	for name in "${!proc_pid[@]}"; do
		kill "${proc_pid[$name]}" 2>/dev/null || true
		stop_proc "$name"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start `bench_probe ARGS...` as NAME with its stdin and stdout on fifos; wait
# (bounded) for its "ready X" line; X is left in $ready.
start_proc() { # NAME ARGS...
	local name=$1 infd outfd word
	shift
	mkfifo "$tmp/$name.in" "$tmp/$name.out"
	"$BIN" "$@" <"$tmp/$name.in" >"$tmp/$name.out" &
	proc_pid[$name]=$!
	exec {infd}>"$tmp/$name.in"
	exec {outfd}<"$tmp/$name.out"
	proc_in[$name]=$infd
	proc_out[$name]=$outfd
	rm -f "$tmp/$name.in" "$tmp/$name.out" # both ends are open: the names can go
	read -r -t "$READY_TIMEOUT" word ready <&"$outfd" || die "$name did not get ready within ${READY_TIMEOUT}s"
	[ "$word" = ready ] || die "$name: unexpected '$word $ready'"
}

# Median of stdin (one number a line).
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "nan"}'; }

# Time an external command: median wall time in ms. hyperfine when there is one
# (it also subtracts nothing: -N runs without a shell), else a loop.
declare -A ext
time_external() { # NAME COMMAND...
	local name=$1 i t0 t1
	shift
	if have hyperfine; then
		hyperfine -N -i --warmup 3 --runs "$EXT_RUNS" --export-json "$tmp/h.json" \
			-n "$name" "$*" >/dev/null 2>&1 || die "hyperfine failed on: $*"
		if have jq; then
			ext[$name]=$(jq -r '.results[0].median * 1000' "$tmp/h.json")
		else
			ext[$name]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"]*1000)' "$tmp/h.json")
		fi
	else
		for ((i = 0; i < EXT_RUNS; i++)); do
			t0=$(date +%s%N)
			"$@" >/dev/null 2>&1 || true
			t1=$(date +%s%N)
			echo $(((t1 - t0) / 1000))
		done | median | awk '{printf "%.3f\n", $1 / 1000}' >"$tmp/m"
		ext[$name]=$(cat "$tmp/m")
	fi
}

fmt() { awk -v v="${1:-}" 'BEGIN { if (v == "" || v == "nan") print "-"; else if (v < 1) printf "%.3f\n", v; else if (v < 10) printf "%.2f\n", v; else printf "%.1f\n", v }'; }
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.0f×\n", a / b }'; }

if have ss && [ -n "$(ss -Hltn "sport = :$PORT" 2>/dev/null)" ]; then
	die "port $PORT is already in use; pick another with BENCH_PORT"
fi

start_proc target target "$PORT"
target_pid=$ready

# (processes come and go during a find: its complaints are not errors here)
count_procs() { { find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' 2>/dev/null || true; } | wc -l; }
count_fds() { { find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -sr), $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# target 127.0.0.1:$PORT held by pid $target_pid; $(count_procs) processes; hyperfine: $(have hyperfine && echo yes || echo no)"
echo "# in-process: median of $RUNS runs ($((RUNS / 4)) for the sweeps); external: median of $EXT_RUNS runs; ms"
echo

rows=()
one_pass() {
	local n total nprocs fds got path med _min _max _n
	for n in $SIZES; do
		start_proc "hold$n" hold "$n" "$V6_EVERY"
		total=$(have ss && ss -Hltn | wc -l || echo "?")
		nprocs=$(count_procs)
		fds=$(count_fds)

		# sanity: every method names the target
		got=$("$BIN" whose "$PORT") || die "bench_probe whose $PORT failed"
		[ "${got%% *}" = "$target_pid" ] || die "bench_probe whose $PORT said '$got', not $target_pid"
		if have lsof; then
			got=$(lsof -nP -iTCP:"$PORT" -sTCP:LISTEN -t || true)
			[ "$got" = "$target_pid" ] || die "lsof said '$got', not $target_pid"
		fi
		if have ss; then
			ss -Hltnp "sport = :$PORT" | grep -q "pid=$target_pid," || die "ss -p did not name $target_pid"
		fi

		declare -A inproc=()
		while IFS=$'\t' read -r path med _min _max _n; do
			[ "$path" = path ] && continue
			inproc[$path]=$med
		done < <("$BIN" time "$PORT" "$target_pid" "$RUNS")

		ext=()
		time_external whose "$BIN" whose "$PORT"
		have lsof && time_external lsof lsof -nP -iTCP:"$PORT" -sTCP:LISTEN -t
		have ss && time_external ss ss -Hltnp sport = :"$PORT"

		rows+=("| $total | $nprocs | $fds | $(fmt "${inproc[listening_sockdiag]}") | $(fmt "${inproc[listening_procnet]}") | $(fmt "${inproc[owner_hint]}") | $(fmt "${inproc[owner_sweep]}") | $(fmt "${inproc[sweep_only]}") | $(fmt "${ext[whose]:-}") | $(fmt "${ext[lsof]:-}") | $(fmt "${ext[ss]:-}") | $(ratio "${ext[lsof]:-}" "${inproc[owner_hint]}") | $(ratio "${ext[lsof]:-}" "${inproc[owner_sweep]}") | $(ratio "${ext[lsof]:-}" "${ext[whose]:-}") |")
		stop_proc "hold$n"
	done
}

one_pass
if [ "$CROWD" -gt 0 ]; then
	extra=$((CROWD - $(count_procs) - 1))
	if [ "$extra" -gt 0 ]; then
		start_proc crowd crowd "$extra" "$CROWD_FDS"
		one_pass
		stop_proc crowd
	fi
fi

echo "| LISTEN sockets | procs | fds | listening: sock_diag | listening: /proc/net | owner: hint pid | owner: full (dump + sweep) | sweep alone | \`bench_probe whose\` (process) | lsof -t | ss -ltnp | lsof ÷ hint | lsof ÷ full | lsof ÷ whose |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
