package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"envoi/internal/testmail"
)

// child is `envoi serve` run as a separate process from the real binary,
// so that it can be killed with SIGKILL.
type child struct {
	t    *testing.T
	bin  string
	args []string
	env  []string
	base string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// buildEnvoi builds the envoi binary into a temporary directory.
func buildEnvoi(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "envoi")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// start runs the process and waits until it answers /healthz.
func (c *child) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.bin, c.args...)
	c.cmd.Env = c.env
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-c.done:
			c.t.Fatalf("envoi serve exited: %v\n%s", err, c.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.t.Fatalf("envoi serve did not answer:\n%s", c.logs.String())
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	<-c.done
}

// stop ends the process gracefully (SIGTERM) and waits for it.
func (c *child) stop() {
	if c.cmd == nil || c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// TestCrash: envoi serve, a real process, is killed with SIGKILL in the
// middle of 2,000 messages — while the ERP is still posting some and
// workers are sending others — and started again. The ERP retries the
// requests that got no answer with their Idempotency-Key. Every message is
// delivered; none is lost; a message whose send was cut by the kill goes
// out again after its lease with the same Message-ID, and envoi reports it
// as a possible duplicate.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and sends 2,000 messages")
	}
	bin := buildEnvoi(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var storage []string
			if db == "postgres" {
				storage = []string{"--database-url", freshPostgres(t), "--master-key", testMasterKey}
			}
			testCrash(t, bin, storage)
		})
	}
}

func testCrash(t *testing.T, bin string, storage []string) {
	// The private CA and a short lease come through the environment.
	c, e := startChild(t, bin, storage, []string{"ENVOI_QUEUE_LEASE=2s"}, false)
	server := e.SMTP

	const total = 2000
	ids := make([]string, total)
	var next, accepted, retries atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(i int) {
		body := blRequest(fmt.Sprintf("client%04d@example.org", i))
		b := []byte(fmtJSON(body))
		for attempt := 0; ; attempt++ {
			req, _ := http.NewRequest("POST", c.base+"/v1/messages", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+e.Key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%04d", i))
			resp, err := client.Do(req)
			if err == nil {
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 202 || resp.StatusCode == 200 {
					var m queuedMessage
					if jerr := json.Unmarshal(raw, &m); jerr == nil && m.ID != "" {
						ids[i] = m.ID
						accepted.Add(1)
						return
					}
				}
				if resp.StatusCode < 500 {
					t.Errorf("POST %d: %d %s", i, resp.StatusCode, raw)
					return
				}
			}
			// No answer: envoi is down. Try again, as an ERP would.
			retries.Add(1)
			if attempt > 2000 {
				t.Errorf("POST %d: no answer after %d tries: %v", i, attempt, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				post(i)
			}
		}()
	}

	// Kill the process once a fifth of the messages went out.
	deadline := time.Now().Add(2 * time.Minute)
	for server.MessageCount() < total/5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.kill()
	atKill, deliveredAtKill := accepted.Load(), server.MessageCount()
	t.Logf("kill -9 with %d of %d messages accepted and %d delivered", atKill, total, deliveredAtKill)
	c.start()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every message accepted is delivered.
	var flagged int
	byMID := map[string]queuedMessage{}
	for _, id := range ids {
		m := e.waitStatus(id, "sent", 2*time.Minute)
		if m.Status != "sent" {
			t.Fatalf("message %s: %s, want sent\n%s", id, fmtJSON(m), c.logs.String())
		}
		byMID[m.MessageID] = m
		if m.Duplicates > 0 {
			flagged++
		}
	}
	got := countMessageIDs(server)
	duplicates := 0
	for mid, m := range byMID {
		switch n := got[mid]; {
		case n == 0:
			t.Errorf("message %s (%s) recorded sent but never received: lost", m.ID, mid)
		case n > 1:
			duplicates += n - 1
			if m.Duplicates == 0 {
				t.Errorf("message %s received %d times but not reported as a possible duplicate", m.ID, n)
			}
		}
	}
	if len(got) != total {
		t.Errorf("the server received %d distinct Message-IDs, want %d", len(got), total)
	}
	t.Logf("after restart: %d messages delivered; %d duplicate deliveries (a Message-ID received twice); %d messages reported as possible duplicates; %d POSTs retried by the client",
		len(got), duplicates, flagged, retries.Load())
}

// TestCleanStop: envoi serve stopped with SIGTERM in the middle of a run
// finishes the sends under way and hands back the rest: started again with
// the default two-minute lease, it sends every remaining message at once
// (none waits for a lease), and none twice.
func TestCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildEnvoi(t)
	// The private CA comes through its flag, the default lease is kept.
	c, e := startChild(t, bin, nil, nil, true)
	server := e.SMTP
	// Each reply of the server waits a little: sends are under way at the stop.
	server.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 5 * time.Millisecond})
	const total = 300
	ids := make([]string, total)
	for i := range ids {
		var m queuedMessage
		e.MustDo(202, "POST", "/v1/messages", blRequest(fmt.Sprintf("c%03d@example.org", i)), &m)
		ids[i] = m.ID
	}
	deadline := time.Now().Add(time.Minute)
	for server.MessageCount() < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.stop()
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("envoi serve exited with %d after SIGTERM:\n%s", code, c.logs.String())
	}
	atStop := server.MessageCount()
	server.Heal()
	c.start()
	for _, id := range ids {
		// Well within the two-minute lease: nothing was left leased.
		if m := e.waitStatus(id, "sent", 60*time.Second); m.Status != "sent" || m.Duplicates != 0 {
			t.Fatalf("message %s: %s, want sent with no possible duplicate", id, fmtJSON(m))
		}
	}
	for mid, n := range countMessageIDs(server) {
		if n != 1 {
			t.Errorf("%s received %d times after a clean stop", mid, n)
		}
	}
	t.Logf("stopped with %d of %d delivered; the rest sent after the restart, none twice", atStop, total)
}

// startChild runs the real binary's envoi serve as a child process against
// a test OAuth provider and SMTP server, creates an API key, configures the
// O365 flow and consents as jdupont. The SMTP server's CA is given through
// ENVOI_SMTP_CA_FILE, or through the --smtp-ca-file flag when caByFlag is
// set, so both ways are exercised; env adds environment variables.
func startChild(t *testing.T, bin string, storage, env []string, caByFlag bool) (*child, *Env) {
	t.Helper()
	provider := testmail.StartOAuth(t, testmail.OAuthOptions{})
	server := testmail.StartSMTP(t, testmail.SMTPOptions{ValidateToken: provider.ValidateAccessToken})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(caFile, server.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	c := &child{
		t: t, bin: bin, base: "http://" + addr, logs: &syncBuffer{},
		args: append([]string{"serve", "--listen", addr, "--data-dir", data, "--public-url", "http://" + addr, "--log-level", "warn"}, storage...),
		env:  append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...),
	}
	if caByFlag {
		c.args = append(c.args, "--smtp-ca-file", caFile)
	} else {
		c.env = append(c.env, "ENVOI_SMTP_CA_FILE="+caFile)
	}
	c.start()
	t.Cleanup(c.stop)

	keyOut, err := exec.Command(bin, append([]string{"apikey", "create", "--name", "erp", "--data-dir", data}, storage...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, keyOut)
	}
	lines := strings.Split(strings.TrimSpace(string(keyOut)), "\n")
	e := &Env{T: t, Base: c.base, Key: lines[len(lines)-1], OAuth: provider, SMTP: server, logs: c.logs}
	e.Configure()
	e.unlimit()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	return c, e
}
