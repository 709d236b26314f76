#!/usr/bin/env bash
# The Dovecot rows of README's performance table: envoi and Nodemailer
# through one TLS + XOAUTH2 submission server, Debian's Dovecot configured
# as envoi's interoperability suite configures it (internal/interop/
# dovecot.go: submission only, STARTTLS required, an oauth2 passdb that
# introspects each bearer token by RFC 7662, no auth cache), relaying to a
# Postfix smtp-sink; the same ~141 KB message as run.sh, RUNS interleaved
# runs. Prints a table: delivered msg/s, peak RSS, the sender's CPU a
# message, Dovecot's CPU a message (its master and every process it
# started: login, submission with its relay client, auth, log) and each
# sender's write system calls to the socket a message (strace, in a
# separate shorter run; envoi bench's own count, "SMTP socket: N writes",
# is printed below the table).
#
#   bench/dovecot.sh                    # 5000 messages, 3 runs, SQLite
#   COUNT=2000 RUNS=1 bench/dovecot.sh
#   NODELAY=0 bench/dovecot.sh          # without Nodemailer's TCP_NODELAY row
#   KEEP=1 bench/dovecot.sh             # keeps the temporary directory (Dovecot's log)
#   WRITES=0 bench/dovecot.sh           # without the strace run (WCOUNT messages, 500 at most)
#   PORT=25350 bench/dovecot.sh         # smtp-sink on PORT, Dovecot on PORT+1, introspection on PORT+2
#   bench/run.sh                        # runs this after its own table
#
# How the pieces meet (all on loopback):
#   - smtp-sink -c -u root 127.0.0.1:PORT 1000, Dovecot's relay
#     (submission_relay_host/port, no TLS);
#   - Dovecot `dovecot -F -c DIR/dovecot.conf`, its configuration, state and
#     sockets in a temporary DIR, a self-signed certificate for 127.0.0.2
#     made with openssl; it listens on 127.0.0.2:PORT+1 so that clients,
#     which connect from 127.0.0.1, are remote to it (a client on its own
#     address would count as secure);
#   - the introspection endpoint on 127.0.0.1:PORT+2/introspect: during
#     Nodemailer's runs `node introspect.mjs` (one random token for
#     bench01@example.com, given to Nodemailer with --access-token), during
#     envoi's `envoi bench --introspect-listen`, which answers for the
#     tokens its built-in provider issued (envoi refreshes them there);
#   - node nodemailer.mjs --host 127.0.0.2 --port PORT+1 --security starttls
#     --ca DIR/cert.pem --user bench01@example.com --access-token TOKEN;
#   - envoi bench --smtp 127.0.0.2:PORT+1 --smtp-security starttls
#     --smtp-auth xoauth2 --smtp-ca-file DIR/cert.pem
#     --introspect-listen 127.0.0.1:PORT+2.
#
# Nodemailer's TCP_NODELAY row is there for the smtp-sink table's sake
# (see run.sh): through Dovecot the 40 ms wait on a delayed ACK does not
# show (strace -tt of 400 messages: 5 gaps over 30 ms between writes on one
# connection, against one a message into smtp-sink); the two rows differ
# by the machine's noise only.
#
# Needs Debian's dovecot-core and dovecot-submissiond, Postfix's smtp-sink,
# openssl, strace (for WRITES), Node.js 20 with npm, Go and GNU time. Runs
# as root (Dovecot's own users then run its processes, as in the interop
# suite) or as any user (every process then runs as that user, without
# chroot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
COUNT=${COUNT:-5000}
RUNS=${RUNS:-3}
PORT=${PORT:-25350}
KB=${ATTACHMENT_KB:-100}
SBIN=${SBIN:-/usr/sbin}
DATABASE_URL=${DATABASE_URL:-}
NODELAY=${NODELAY:-1}
# WRITES=1 counts each sender's writes to the socket with strace, in a
# separate run of WCOUNT messages (strace slows the sender down).
WRITES=${WRITES:-1}
WCOUNT=${WCOUNT:-$((COUNT < 500 ? COUNT : 500))}
# ENVOI: an envoi binary already built (run.sh passes its own).
ENVOI=${ENVOI:-}
DOVECOT_HOST=127.0.0.2
DOVECOT_PORT=$((PORT + 1))
INTROSPECT=127.0.0.1:$((PORT + 2))
USER_ADDR=bench01@example.com

work=$(mktemp -d)
chmod 755 "$work" # Dovecot's unprivileged processes read its files
sink_pid='' dovecot_pid='' introspect_pid=''
cleanup() {
	for p in $introspect_pid $dovecot_pid $sink_pid; do kill "$p" 2>/dev/null || true; done
	if [ -n "$dovecot_pid" ]; then
		for _ in $(seq 50); do kill -0 "$dovecot_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work (dovecot.log, dovecot.conf)" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ -z "$ENVOI" ]; then
	(cd "$here/.." && go build -o "$work/envoi" ./cmd/envoi)
	ENVOI=$work/envoi
fi
if [ ! -d "$here/node_modules/nodemailer" ]; then
	(cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

# A self-signed certificate for Dovecot's address, its own authority.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=envoi bench $DOVECOT_HOST" -addext "subjectAltName=IP:$DOVECOT_HOST" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=digitalSignature,keyCertSign" \
	-addext "extendedKeyUsage=serverAuth" \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 644 "$work/cert.pem"
chmod 600 "$work/key.pem" # read by the master, before it drops privileges

# The configuration of internal/interop/dovecot.go, without the
# passwd-file passdb (no PLAIN or LOGIN here) and without IMAP.
cat >"$work/oauth2.conf" <<EOF
introspection_mode = post
introspection_url = http://$INTROSPECT/introspect
username_attribute = email
active_attribute = active
active_value = true
EOF
chmod 644 "$work/oauth2.conf"
if [ "$(id -u)" = 0 ]; then
	internal=dovecot login=dovenull uid=dovecot gid=dovecot chroot=
else
	internal=$(id -un) login=$(id -un) uid=$(id -u) gid=$(id -g) chroot="chroot = "
fi
cat >"$work/dovecot.conf" <<EOF
# written by envoi's bench/dovecot.sh
base_dir = $work/run
state_dir = $work/state
log_path = $work/dovecot.log
instance_name = envoi-bench-$DOVECOT_PORT
protocols = submission
listen = $DOVECOT_HOST
postmaster_address = postmaster@dovecot.test
ssl = required
ssl_cert = <$work/cert.pem
ssl_key = <$work/key.pem
disable_plaintext_auth = yes
login_trusted_networks =
auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
auth_cache_size = 0
hostname = dovecot.test
default_internal_user = $internal
default_login_user = $login
first_valid_uid = 1
mail_location = maildir:$work/mail/%u
submission_relay_host = 127.0.0.1
submission_relay_port = $PORT
submission_relay_ssl = no
service submission-login {
  $chroot
  inet_listener submission {
    address = $DOVECOT_HOST
    port = $DOVECOT_PORT
  }
}
service submission {
  $chroot
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $work/oauth2.conf
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$work/home/%u allow_all_users=yes
}
EOF

# Another run's server on one of the ports would take this run's traffic
# (ss lists the listeners without connecting to them).
for p in "$PORT" "$DOVECOT_PORT" "${INTROSPECT#*:}"; do
	if [ -n "$(ss -Hltn "sport = :$p")" ]; then
		echo "dovecot.sh: something already listens on port $p; choose another PORT (it uses PORT to PORT+2)" >&2
		exit 1
	fi
done
"$SBIN/smtp-sink" -c -u root "127.0.0.1:$PORT" 1000 >/dev/null &
sink_pid=$!
"$SBIN/dovecot" -F -c "$work/dovecot.conf" 2>"$work/dovecot.err" &
dovecot_pid=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/$DOVECOT_HOST/$DOVECOT_PORT") 2>/dev/null; then break; fi
	if ! kill -0 "$dovecot_pid" 2>/dev/null; then
		cat "$work/dovecot.err" "$work/dovecot.log" >&2 || true
		exit 1
	fi
	sleep 0.1
done
if ! kill -0 "$sink_pid" 2>/dev/null; then
	echo "dovecot.sh: smtp-sink did not start on 127.0.0.1:$PORT" >&2
	exit 1
fi

# dovecot_ticks: the CPU (user + system, in clock ticks) of Dovecot's
# master, of the children it has reaped and of those still running. Every
# Dovecot process (login, submission, auth, relay) is a child of the
# master, so the difference over a row is what Dovecot spent on it.
dovecot_ticks() {
	local p total=0 t
	for p in "$dovecot_pid" $(pgrep -P "$dovecot_pid" || true); do
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# settle: waits until the sessions of the last row have ended (Dovecot's
# submission processes exit with their client), so that their CPU is in
# the master's reaped children.
settle() {
	local _
	for _ in $(seq 50); do
		[ "$(pgrep -P "$dovecot_pid" -c -f submission || true)" = 0 ] && return
		sleep 0.1
	done
}

# measure CMD...: runs CMD under GNU time; prints "maxrss_kb cpu_seconds dovecot_cpu_seconds".
measure() {
	settle
	local d0 d1
	d0=$(dovecot_ticks)
	/usr/bin/time -f "%M %U %S" -o "$work/time" "$@" >"$work/out" 2>&1 || {
		cat "$work/out" >&2
		tail -20 "$work/dovecot.log" >&2
		return 1
	}
	settle
	d1=$(dovecot_ticks)
	echo "Dovecot: $((d1 - d0)) ticks over $*" >>"$work/ticks"
	awk -v d=$((d1 - d0)) -v hz="$(getconf CLK_TCK)" '{ printf "%s %.3f %.3f\n", $1, $2 + $3, d / hz }' "$work/time"
}

# introspect_start: Nodemailer's token, checked by introspect.mjs.
token=nm.$(openssl rand -hex 16)
introspect_start() {
	node "$here/introspect.mjs" --listen "$INTROSPECT" --token "$token" --user "$USER_ADDR" >"$work/introspect.out" &
	introspect_pid=$!
	for _ in $(seq 100); do
		grep -q listening "$work/introspect.out" 2>/dev/null && return
		sleep 0.05
	done
	echo "introspect.mjs did not start" >&2
	return 1
}
introspect_stop() {
	kill "$introspect_pid"
	wait "$introspect_pid" 2>/dev/null || true
	introspect_pid=
}

nodemailer=(node "$here/nodemailer.mjs" --host "$DOVECOT_HOST" --port "$DOVECOT_PORT" --security starttls
	--ca "$work/cert.pem" --user "$USER_ADDR" --access-token "$token" --attachment-kb "$KB")
envoi_args=(bench --smtp "$DOVECOT_HOST:$DOVECOT_PORT" --smtp-security starttls --smtp-auth xoauth2
	--smtp-ca-file "$work/cert.pem" --introspect-listen "$INTROSPECT" --attachment-kb "$KB")
if [ -n "$DATABASE_URL" ]; then envoi_args+=(--database-url "$DATABASE_URL"); fi

nodemailer_row() { # name [--nodelay]
	local name=$1 dcpu
	shift
	introspect_start
	read -r _ _ dcpu < <(measure "${nodemailer[@]}" --count "$COUNT" "$@")
	introspect_stop
	# nodemailer: N delivered in Xs, R msg/s, peak RSS M MB, CPU C ms a message
	sed -n 's/.*, \([0-9]*\) msg\/s, peak RSS \([0-9]*\) MB, CPU \([0-9.]*\) ms.*/\1 \2 \3/p' "$work/out" |
		awk -v n="$name" -v d="$dcpu" -v c="$COUNT" '{ printf "%s %s %s %s %.2f - -\n", n, $1, $2, $3, d * 1000 / c }' >>"$results"
}

results="$work/results"
: >"$results"
for run in $(seq "$RUNS"); do
	nodemailer_row nodemailer
	if [ "$NODELAY" = 1 ]; then nodemailer_row nodemailer-nodelay --nodelay; fi

	read -r _ _ dcpu < <(measure "$ENVOI" "${envoi_args[@]}" --count "$COUNT")
	cat "$work/out" >&2
	{
		printf 'envoi '
		sed -n 's/^delivered .* \([0-9]*\) msg\/s .*/\1/p' "$work/out" | tr '\n' ' '
		sed -n 's/.*peak memory (VmHWM) \([0-9]*\) MB, CPU [0-9.]*s (\([0-9.]*\) ms a message.*/\1 \2/p' "$work/out" | tr '\n' ' '
		awk -v d="$dcpu" -v c="$COUNT" 'BEGIN { printf "%.2f ", d * 1000 / c }'
		sed -n 's/^SMTP socket: [0-9]* writes, \([0-9.]*\) a message, \([0-9]*\) KB each.*/\1 \2/p' "$work/out"
	} >>"$results"
	echo "dovecot run $run of $RUNS done" >&2
done

# socket_writes NAME CMD...: runs CMD, which sends WCOUNT messages, under
# strace (a file a thread, so no call is split across lines) and appends
# "NAME writes_a_message" to $work/writes: its write system calls that
# wrote to a connection to Dovecot, counted the same way for every sender
# (envoi's own count is of its Write calls, each of which may take more
# than one system call when the socket's buffer is full).
socket_writes() {
	local name=$1
	shift
	settle
	rm -rf "$work/strace" && mkdir "$work/strace"
	strace -ff -qq -yy -e trace=write,writev,sendmsg,sendto -o "$work/strace/t" "$@" >"$work/out" 2>&1 || {
		cat "$work/out" >&2
		return 1
	}
	cat "$work/strace"/t.* | grep -F -- "->$DOVECOT_HOST:$DOVECOT_PORT]>" | grep -cE '= [1-9][0-9]*$' |
		awk -v n="$name" -v c="$WCOUNT" '{ printf "%s %.1f\n", n, $1 / c }' >>"$work/writes"
}
: >"$work/writes"
if [ "$WRITES" = 1 ] && command -v strace >/dev/null; then
	introspect_start
	socket_writes nodemailer "${nodemailer[@]}" --count "$WCOUNT"
	introspect_stop
	socket_writes envoi "$ENVOI" "${envoi_args[@]}" --count "$WCOUNT"
	echo "dovecot: writes counted with strace" >&2
fi
writes() { # name: the writes a message strace counted, or –
	awk -v n="$1" '$1 == n { w = $2 } END { print (w == "" ? "–" : w) }' "$work/writes"
}

range() { # name column
	awk -v n="$1" -v c="$2" '$1 == n { if ($c == "-") { print "–"; exit } v[++k] = $c }
		END { if (k == 0) exit; lo = hi = v[1]; for (i in v) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
		      if (lo == hi) print lo; else print lo "–" hi }' "$results"
}
echo
echo "$COUNT messages of ~141 KB through Dovecot $("$SBIN/dovecot" --version | cut -d' ' -f1) submission (STARTTLS, XOAUTH2 checked by RFC 7662 introspection, no auth cache) relaying to smtp-sink, $RUNS interleaved runs, $(nproc) cores, database ${DATABASE_URL:+PostgreSQL}${DATABASE_URL:-SQLite}"
echo
echo "| sender, through Dovecot submission | delivered msg/s | peak RSS | CPU a message | Dovecot's CPU a message | writes to the socket a message |"
echo "|---|---|---|---|---|---|"
echo "| Nodemailer, pool of 8, XOAUTH2 over STARTTLS | $(range nodemailer 2) | $(range nodemailer 3) MB | $(range nodemailer 4) ms | $(range nodemailer 5) ms | $(writes nodemailer) |"
if [ "$NODELAY" = 1 ]; then
	echo "| Nodemailer, the same with TCP_NODELAY (\`getSocket\`) | $(range nodemailer-nodelay 2) | $(range nodemailer-nodelay 3) MB | $(range nodemailer-nodelay 4) ms | $(range nodemailer-nodelay 5) ms | $(writes nodemailer) |"
fi
echo "| \`envoi bench --smtp … --smtp-security starttls --smtp-auth xoauth2\` | $(range envoi 2) | $(range envoi 3) MB | $(range envoi 4) ms | $(range envoi 5) ms | $(writes envoi) |"
echo
echo "Writes to the socket: write system calls on the connections to Dovecot, counted with strace over a separate run of $WCOUNT messages (the SMTP dialogue and TLS included). envoi bench's own count over the timed runs: $(range envoi 6) Write calls a message, $(range envoi 7) KB each on average."
