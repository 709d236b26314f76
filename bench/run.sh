#!/usr/bin/env bash
# Runs the rows of README's performance table side by side: the senders
# into one Postfix smtp-sink on loopback, the same ~141 KB message (text,
# HTML, a 100 KB PDF), RUNS interleaved runs, then prints the table (the
# range over the runs of delivered msg/s, peak RSS and CPU a message);
# then runs bench/dovecot.sh, the same senders through Dovecot's
# submission server (STARTTLS, XOAUTH2), which prints the second table.
#
#   bench/run.sh                 # 5000 messages, 3 runs, SQLite
#   COUNT=2000 RUNS=1 bench/run.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable bench/run.sh
#   DOVECOT=0 bench/run.sh       # the smtp-sink table only (dovecot.sh uses PORT+100 to PORT+102)
#   NODELAY=0 bench/run.sh       # without Nodemailer's TCP_NODELAY rows
#
# The rows, with PORT the sink's port (25250 unless PORT is set):
#   smtp-sink -c -u root 127.0.0.1:PORT 1000
#   smtp-source -d -s 8 -m COUNT -F message.eml -f bench01@example.com -t client@example.org 127.0.0.1:PORT
#     (message.eml: the message Nodemailer composes, written once by
#     node bench/nodemailer.mjs --write-eml message.eml)
#   node bench/nodemailer.mjs --port PORT --count COUNT            (npm ci in bench/ first)
#   node bench/nodemailer.mjs --port PORT --count COUNT --nodelay  (TCP_NODELAY: see below)
#   envoi bench --smtp 127.0.0.1:PORT --smtp-auth none --count COUNT
#
# Nodemailer's first row is its default behaviour: Node's sockets keep
# Nagle's algorithm and Nodemailer writes a message in many small pieces
# (about 16 writes, the last one ".\r\n"), so the end of each message
# waits for smtp-sink's delayed ACK of the piece before it, 40 ms on Linux:
# with 8 connections that caps it near 8 / 45 ms, about 180 msg/s, with the
# CPU mostly idle (strace -f -tt shows the 40 ms between ".\r\n" and the
# next MAIL FROM). Nodemailer has no option for TCP_NODELAY; its getSocket
# option can hand it a socket that has it, which the second row does. Go
# sets TCP_NODELAY on every TCP connection, so envoi never waits so.
#
# Needs Postfix's smtp-sink and smtp-source (Debian's postfix package puts
# them in /usr/sbin), Node.js 20 with npm, Go and GNU time (/usr/bin/time);
# bench/dovecot.sh also needs dovecot-core, dovecot-submissiond and openssl.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
COUNT=${COUNT:-5000}
RUNS=${RUNS:-3}
PORT=${PORT:-25250}
KB=${ATTACHMENT_KB:-100}
SBIN=${SBIN:-/usr/sbin}
DATABASE_URL=${DATABASE_URL:-}
NODELAY=${NODELAY:-1}
DOVECOT=${DOVECOT:-1}

work=$(mktemp -d)
sink_pid=
cleanup() {
	if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$here/.." && go build -o "$work/envoi" ./cmd/envoi)
if [ ! -d "$here/node_modules/nodemailer" ]; then
	(cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi
# smtp-source's pre-made message: the one Nodemailer composes.
node "$here/nodemailer.mjs" --write-eml "$work/message.eml" --attachment-kb "$KB"

# Another run's sink on the port would take this run's messages (ss lists
# the listeners without connecting to them).
if [ -n "$(ss -Hltn "sport = :$PORT")" ]; then
	echo "run.sh: something already listens on port $PORT; choose another PORT" >&2
	exit 1
fi
"$SBIN/smtp-sink" -c -u root "127.0.0.1:$PORT" 1000 >/dev/null &
sink_pid=$!
sleep 0.5
if ! kill -0 "$sink_pid" 2>/dev/null; then
	echo "run.sh: smtp-sink did not start on 127.0.0.1:$PORT" >&2
	exit 1
fi

# measure CMD...: runs CMD under GNU time; prints "seconds maxrss_kb cpu_seconds".
measure() {
	/usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" >"$work/out" 2>&1 || {
		cat "$work/out" >&2
		return 1
	}
	awk '{ printf "%s %s %.3f\n", $1, $2, $3 + $4 }' "$work/time"
}

results="$work/results"
: >"$results"
for run in $(seq "$RUNS"); do
	# smtp-source: -d disconnects after each message, -s 8 sessions at once.
	read -r secs rss _ < <(measure "$SBIN/smtp-source" -d -s 8 -m "$COUNT" -F "$work/message.eml" \
		-f bench01@example.com -t client@example.org "127.0.0.1:$PORT")
	awk -v n="$COUNT" -v s="$secs" -v r="$rss" 'BEGIN { printf "smtp-source %.0f %.0f -\n", n / s, r / 1024 }' >>"$results"

	measure node "$here/nodemailer.mjs" --port "$PORT" --count "$COUNT" --attachment-kb "$KB" >/dev/null
	# nodemailer: N delivered in Xs, R msg/s, peak RSS M MB, CPU C ms a message
	sed -n 's/.*, \([0-9]*\) msg\/s, peak RSS \([0-9]*\) MB, CPU \([0-9.]*\) ms.*/nodemailer \1 \2 \3/p' "$work/out" >>"$results"
	if [ "$NODELAY" = 1 ]; then
		measure node "$here/nodemailer.mjs" --port "$PORT" --count "$COUNT" --attachment-kb "$KB" --nodelay >/dev/null
		sed -n 's/.*, \([0-9]*\) msg\/s, peak RSS \([0-9]*\) MB, CPU \([0-9.]*\) ms.*/nodemailer-nodelay \1 \2 \3/p' "$work/out" >>"$results"
	fi

	args=(bench --smtp "127.0.0.1:$PORT" --smtp-auth none --count "$COUNT" --attachment-kb "$KB")
	if [ -n "$DATABASE_URL" ]; then args+=(--database-url "$DATABASE_URL"); fi
	measure "$work/envoi" "${args[@]}" >/dev/null
	cat "$work/out" >&2
	{
		printf 'envoi '
		sed -n 's/^delivered .* \([0-9]*\) msg\/s .*/\1/p' "$work/out" | tr '\n' ' '
		sed -n 's/.*peak memory (VmHWM) \([0-9]*\) MB, CPU [0-9.]*s (\([0-9.]*\) ms a message.*/\1 \2/p' "$work/out"
	} >>"$results"
	echo "run $run of $RUNS done" >&2
done

range() { # name column
	awk -v n="$1" -v c="$2" '$1 == n { if ($c == "-") { print "–"; exit } v[++k] = $c }
		END { if (k == 0) exit; lo = hi = v[1]; for (i in v) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
		      if (lo == hi) print lo; else print lo "–" hi }' "$results"
}
echo
echo "$COUNT messages of ~141 KB into smtp-sink on 127.0.0.1:$PORT, $RUNS interleaved runs, $(nproc) cores, database ${DATABASE_URL:+PostgreSQL}${DATABASE_URL:-SQLite}"
echo
echo "| sender | delivered msg/s | peak RSS | CPU a message |"
echo "|---|---|---|---|"
echo "| Postfix \`smtp-source -d -s 8\` (pre-made message, no composition) | $(range smtp-source 2) | $(range smtp-source 3) MB | – |"
echo "| Nodemailer, pool of 8, composing each message | $(range nodemailer 2) | $(range nodemailer 3) MB | $(range nodemailer 4) ms |"
if [ "$NODELAY" = 1 ]; then
	echo "| Nodemailer, the same with TCP_NODELAY (\`getSocket\`) | $(range nodemailer-nodelay 2) | $(range nodemailer-nodelay 3) MB | $(range nodemailer-nodelay 4) ms |"
fi
echo "| \`envoi bench --smtp … --smtp-auth none\` (API, composition, durable queue, SMTP) | $(range envoi 2) | $(range envoi 3) MB | $(range envoi 4) ms |"
# The goals compare senders run side by side: each run's ratios, as the
# VM's speed drifts from one run to the next.
echo
awk '$1 == "smtp-source" { run++ } { rate[run, $1] = $2 }
	END {
		printf "envoi, run by run: "
		for (r = 1; r <= run; r++) {
			printf "%s%.2f× smtp-source, %.1f× Nodemailer", (r > 1 ? "; " : ""), rate[r, "envoi"] / rate[r, "smtp-source"], rate[r, "envoi"] / rate[r, "nodemailer"]
			if ((r, "nodemailer-nodelay") in rate) printf " (%.1f× with TCP_NODELAY)", rate[r, "envoi"] / rate[r, "nodemailer-nodelay"]
		}
		print ""
	}' "$results"
echo
echo "Nodemailer's default row waits on Nagle's algorithm: the last small write of each message (\".CRLF\") is held until smtp-sink's delayed ACK (40 ms on Linux) of the write before it; the TCP_NODELAY row is the same Nodemailer on sockets without that wait, which is how envoi's Go sockets are."
if [ "$DOVECOT" = 1 ]; then
	kill "$sink_pid" 2>/dev/null || true
	sink_pid=
	COUNT=$COUNT RUNS=$RUNS PORT=$((PORT + 100)) ATTACHMENT_KB=$KB SBIN=$SBIN DATABASE_URL=$DATABASE_URL NODELAY=$NODELAY ENVOI=$work/envoi \
		bash "$here/dovecot.sh"
fi
