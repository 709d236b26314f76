// Package interop starts mail and identity servers nobody on this team
// wrote, for envoi's interoperability tests: Debian's Dovecot as the SMTP
// submission server (STARTTLS required, PLAIN/LOGIN from a passwd file,
// XOAUTH2/OAUTHBEARER checked by RFC 7662 introspection), Postfix's
// smtp-sink behind it writing each message to a file, and the npm package
// oidc-provider as the OAuth 2.0 / OpenID Connect provider (the Node project
// in ./oidc). Each is started on free loopback ports and stopped when the
// test ends.
//
// Without the programs (dovecot, smtp-sink, node and ./oidc/node_modules)
// a test skips with a message saying what is missing and how to install
// it; with ENVOI_INTEROP=require (set by .ci/run) it fails instead.
package interop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"envoi/internal/freeport"
)

// RequireEnv names the environment variable that turns a missing peer into
// a failure: "require" (CI) fails, anything else skips.
const RequireEnv = "ENVOI_INTEROP"

// DovecotHost is the address Dovecot listens on. envoi connects from
// 127.0.0.1, another address than the server's, so Dovecot treats it as a
// remote client (it takes a client from its own address for secure and
// would allow AUTH before STARTTLS).
const DovecotHost = "127.0.0.2"

// Need skips (or, under ENVOI_INTEROP=require, fails) the test unless every
// peer is installed.
func Need(tb testing.TB) {
	tb.Helper()
	var missing []string
	for _, prog := range []string{"dovecot", "smtp-sink", "node"} {
		if _, err := lookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	if _, err := os.Stat("/usr/lib/dovecot/submission"); err != nil {
		missing = append(missing, "Dovecot's submission service (dovecot-submissiond)")
	}
	if _, err := os.Stat("/usr/lib/dovecot/imap"); err != nil {
		missing = append(missing, "Dovecot's IMAP service (dovecot-imapd)")
	}
	if _, err := os.Stat(filepath.Join(OIDCDir(), "node_modules", "oidc-provider")); err != nil {
		missing = append(missing, "oidc-provider (npm ci in internal/interop/oidc)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("interoperability peers missing: %s (Debian: apt-get install dovecot-core dovecot-submissiond dovecot-imapd postfix, Node.js 20 and npm; then npm ci in internal/interop/oidc)", strings.Join(missing, ", "))
	if os.Getenv(RequireEnv) == "require" {
		tb.Fatal(msg + "; " + RequireEnv + "=require makes this a failure")
	}
	tb.Skip(msg)
}

// lookPath finds a program in PATH or in the sbin directories a non-root
// PATH often lacks.
func lookPath(prog string) (string, error) {
	if p, err := exec.LookPath(prog); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", prog)
}

// OIDCDir is the Node project of the provider.
func OIDCDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "oidc")
}

// FreePort returns a port free on host at the time of the call, outside
// the ephemeral range (see package freeport).
func FreePort(tb testing.TB, host string) int {
	tb.Helper()
	return freeport.Port(tb, host)
}

// waitDial waits until addr accepts connections or the process ends.
func waitDial(tb testing.TB, p *process, addr string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() {
			tb.Fatalf("%s exited before listening on %s:\n%s", p.name, addr, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s did not listen on %s within 30s:\n%s", p.name, addr, p.output())
}

// process is a peer started by a test, in a process group of its own so
// that stopping it ends its children too.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	// lines, when set, receives each line of standard output.
	lines func(string)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs prog with args; its output is kept for failure messages and
// each line of standard output goes to lines when not nil. It is stopped
// (SIGTERM, then SIGKILL to its group) when the test ends.
func start(tb testing.TB, name string, lines func(string), prog string, args ...string) *process {
	tb.Helper()
	path, err := lookPath(prog)
	if err != nil {
		tb.Fatal(err)
	}
	p := &process{name: name, out: &lockedBuffer{}, done: make(chan struct{}), lines: lines}
	p.cmd = exec.Command(path, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				p.out.Write([]byte(line))
				if p.lines != nil {
					p.lines(strings.TrimRight(line, "\n"))
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fmt.Fprintf(p.out, "[read: %v]\n", err)
				}
				break
			}
		}
		_ = p.cmd.Wait()
	}()
	tb.Cleanup(p.stop)
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string { return p.out.String() }

func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		// The group is the one this process leads (Setpgid): its own
		// children, nobody else's.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Children Dovecot forked (auth, login) end with their master; make
	// sure none outlives the test.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// sharedDir makes a directory the peers' unprivileged users can read (a
// test's TempDir is private to its owner, and Dovecot and smtp-sink drop
// root for users of their own); it is removed when the test ends.
func sharedDir(tb testing.TB, prefix string) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
