#!/usr/bin/env bash
# Runs the rows of README's performance table side by side: three senders
# into one Postfix smtp-sink on loopback, the same ~141 KB message (text,
# HTML, a 100 KB PDF), RUNS interleaved runs, then prints the table (the
# range over the runs of delivered msg/s, peak RSS and CPU a message).
#
#   bench/run.sh                 # 5000 messages, 3 runs, SQLite
#   COUNT=2000 RUNS=1 bench/run.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable bench/run.sh
#
# Needs Postfix's smtp-sink and smtp-source (Debian's postfix package puts
# them in /usr/sbin), Node.js 20 with npm, Go and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
COUNT=${COUNT:-5000}
RUNS=${RUNS:-3}
PORT=${PORT:-25250}
KB=${ATTACHMENT_KB:-100}
SBIN=${SBIN:-/usr/sbin}
DATABASE_URL=${DATABASE_URL:-}

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

"$SBIN/smtp-sink" -c -u root "127.0.0.1:$PORT" 1000 >/dev/null &
sink_pid=$!
sleep 0.5

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
	read -r secs rss cpu < <(measure "$SBIN/smtp-source" -d -s 8 -m "$COUNT" -F "$work/message.eml" \
		-f bench01@example.com -t client@example.org "127.0.0.1:$PORT")
	awk -v n="$COUNT" -v s="$secs" -v r="$rss" 'BEGIN { printf "smtp-source %.0f %.0f -\n", n / s, r / 1024 }' >>"$results"

	measure node "$here/nodemailer.mjs" --port "$PORT" --count "$COUNT" --attachment-kb "$KB" >/dev/null
	# nodemailer: N delivered in Xs, R msg/s, peak RSS M MB, CPU C ms a message
	sed -n 's/.*, \([0-9]*\) msg\/s, peak RSS \([0-9]*\) MB, CPU \([0-9.]*\) ms.*/nodemailer \1 \2 \3/p' "$work/out" >>"$results"

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
echo "| \`envoi bench --smtp … --smtp-auth none\` (API, composition, durable queue, SMTP) | $(range envoi 2) | $(range envoi 3) MB | $(range envoi 4) ms |"
