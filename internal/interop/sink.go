package interop

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Sink is Postfix's smtp-sink: it accepts every message and writes each
// transaction to a file of its own (-d), which the test reads.
type Sink struct {
	Host string
	Port int
	dir  string
	proc *process
}

// SinkMessage is one transaction smtp-sink received: its envelope (from the
// X-Mail-Args / X-Rcpt-Args lines smtp-sink writes first) and the whole file.
type SinkMessage struct {
	File     string
	MailFrom string
	Rcpt     []string
	Data     string
}

// StartSink starts smtp-sink on a free port of 127.0.0.1.
func StartSink(tb testing.TB) *Sink {
	tb.Helper()
	dir := sharedDir(tb, "envoi-sink-")
	dump := filepath.Join(dir, "msg")
	if err := os.Mkdir(dump, 0o777); err != nil {
		tb.Fatal(err)
	}
	_ = os.Chmod(dump, 0o777) // the umask took some bits; the sink writes as nobody under root
	s := &Sink{Host: "127.0.0.1", dir: dump}
	s.Port = FreePort(tb, s.Host)
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	args := []string{"-h", "sink.test", "-d", filepath.Join(dump, "m.")}
	if os.Geteuid() == 0 {
		// smtp-sink must switch to an unprivileged user when root.
		u := "nobody"
		if _, err := user.Lookup(u); err != nil {
			tb.Fatalf("smtp-sink needs an unprivileged user: %v", err)
		}
		args = append(args, "-u", u)
	}
	args = append(args, addr, "100")
	s.proc = start(tb, "smtp-sink", nil, "smtp-sink", args...)
	waitDial(tb, s.proc, addr)
	return s
}

// Messages returns what the sink received so far, oldest first.
func (s *Sink) Messages(tb testing.TB) []SinkMessage {
	tb.Helper()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		tb.Fatal(err)
	}
	type file struct {
		name string
		mod  int64
	}
	var files []file
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		files = append(files, file{e.Name(), info.ModTime().UnixNano()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod < files[j].mod })
	var out []SinkMessage
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(s.dir, f.name))
		if err != nil {
			tb.Fatal(err)
		}
		m := SinkMessage{File: f.name, Data: string(b)}
		for _, line := range strings.Split(m.Data, "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "X-Mail-Args: "); ok {
				m.MailFrom = strings.Trim(strings.Fields(v)[0], "<>")
			}
			if v, ok := strings.CutPrefix(line, "X-Rcpt-Args: "); ok {
				m.Rcpt = append(m.Rcpt, strings.Trim(strings.Fields(v)[0], "<>"))
			}
		}
		out = append(out, m)
	}
	return out
}

// WithMessageID returns the messages whose content holds the Message-ID.
func (s *Sink) WithMessageID(tb testing.TB, messageID string) []SinkMessage {
	tb.Helper()
	var out []SinkMessage
	for _, m := range s.Messages(tb) {
		if strings.Contains(m.Data, messageID) {
			out = append(out, m)
		}
	}
	return out
}

func (s *Sink) String() string { return fmt.Sprintf("smtp-sink %s:%d", s.Host, s.Port) }
