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

// postAnywhere posts one message with its Idempotency-Key, first to
// instances[first], and on no answer (or a 5xx) to the next instance, as an
// ERP behind a load balancer would. It returns the message's id, or "" after
// reporting the failure.
func postAnywhere(t *testing.T, client *http.Client, instances []*Env, first int, key string, body []byte, retries *atomic.Int64) string {
	for attempt := 0; attempt < 1000; attempt++ {
		e := instances[(first+attempt)%len(instances)]
		req, _ := http.NewRequest("POST", e.Base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 202 || resp.StatusCode == 200 {
				var m queuedMessage
				if jerr := json.Unmarshal(raw, &m); jerr == nil && m.ID != "" {
					return m.ID
				}
				t.Errorf("POST %s: %d with no id: %s", key, resp.StatusCode, raw)
				return ""
			}
			if resp.StatusCode < 500 {
				t.Errorf("POST %s on %s: %d %s", key, e.Base, resp.StatusCode, raw)
				return ""
			}
		}
		retries.Add(1)
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("POST %s: no instance answered", key)
	return ""
}

// TestKillOneOfThree: three envoi serve processes share one PostgreSQL
// database. While the ERP posts 600 messages spread over the three APIs and
// the workers send them, one instance is killed with SIGKILL and never
// started again. The two survivors take over its leased jobs once the lease
// lapses: every accepted message ends sent and is received by the SMTP
// server; a message received twice is reported as a possible duplicate.
func TestKillOneOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three instances")
	}
	dbURL := freshPostgres(t)
	bin := buildEnvoi(t)
	provider := testmail.StartOAuth(t, testmail.OAuthOptions{})
	server := testmail.StartSMTP(t, testmail.SMTPOptions{ValidateToken: provider.ValidateAccessToken})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(caFile, server.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	storage := []string{"--database-url", dbURL, "--master-key", testMasterKey}

	children := make([]*child, 3)
	instances := make([]*Env, 3)
	for i := range children {
		addr := freeAddr(t)
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		c := &child{
			t: t, bin: bin, base: "http://" + addr, logs: &syncBuffer{},
			args: append([]string{"serve", "--listen", addr, "--data-dir", data, "--public-url", "http://" + addr,
				"--log-level", "warn", "--smtp-ca-file", caFile, "--queue-lease", "2s"}, storage...),
			env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir},
		}
		c.start()
		t.Cleanup(c.stop)
		children[i] = c
	}
	keyOut, err := exec.Command(bin, append([]string{"apikey", "create", "--name", "erp", "--data-dir", filepath.Join(dir, "data0")}, storage...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, keyOut)
	}
	lines := strings.Split(strings.TrimSpace(string(keyOut)), "\n")
	key := lines[len(lines)-1]
	for i, c := range children {
		instances[i] = &Env{T: t, Base: c.base, Key: key, OAuth: provider, SMTP: server, logs: c.logs}
	}
	a := instances[0]
	a.Configure()
	a.unlimit()
	if status, page := a.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	// Each reply of the server waits a little, so that sends are under way
	// on every instance when one is killed.
	server.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 2 * time.Millisecond})

	const total = 600
	const victim = 1
	ids := make([]string, total)
	var next, accepted, retries atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				body := []byte(fmtJSON(blRequest(fmt.Sprintf("client%03d@example.org", i))))
				if id := postAnywhere(t, client, instances, i%3, fmt.Sprintf("kill3-%03d", i), body, &retries); id != "" {
					ids[i] = id
					accepted.Add(1)
				}
			}
		}()
	}

	// Kill one instance once some messages went out.
	deadline := time.Now().Add(2 * time.Minute)
	for server.MessageCount() < total/6 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	children[victim].kill()
	killedAt := time.Now()
	atKill, deliveredAtKill := accepted.Load(), server.MessageCount()
	t.Logf("kill -9 of instance %d with %d of %d messages accepted and %d delivered", victim, atKill, total, deliveredAtKill)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	survivors := []*Env{instances[0], instances[2]}

	// Every accepted message ends sent, as the survivors see it.
	var flagged, flaggedCount, retried int
	byMID := map[string]queuedMessage{}
	for i, id := range ids {
		m := survivors[i%2].waitStatus(id, "sent", 2*time.Minute)
		if m.Status != "sent" {
			t.Fatalf("message %s: %s, want sent\nsurvivor logs:\n%s\n%s", id, fmtJSON(m), children[0].logs.String(), children[2].logs.String())
		}
		if _, dup := byMID[m.MessageID]; dup {
			t.Errorf("message %s shares Message-ID %s with another message", id, m.MessageID)
		}
		byMID[m.MessageID] = m
		if m.Duplicates > 0 {
			flagged++
			flaggedCount += m.Duplicates
		}
		if m.Attempts > 1 {
			retried++
		}
	}
	allSent := time.Since(killedAt)

	got := countMessageIDs(server)
	lost, duplicates, duplicated := 0, 0, 0
	for mid, m := range byMID {
		switch n := got[mid]; {
		case n == 0:
			lost++
			t.Errorf("message %s (%s) recorded sent but never received: lost", m.ID, mid)
		case n > 1:
			duplicated++
			duplicates += n - 1
			if m.Duplicates < n-1 {
				t.Errorf("message %s received %d times but reported with %d possible duplicates", m.ID, n, m.Duplicates)
			}
		}
	}
	for mid := range got {
		if _, ok := byMID[mid]; !ok {
			t.Errorf("the server received %s, which is no accepted message", mid)
		}
	}
	if len(got) != total {
		t.Errorf("the server received %d distinct Message-IDs, want %d", len(got), total)
	}
	if duplicated > flagged || duplicates > flaggedCount {
		t.Errorf("%d messages received more than once (%d extra copies), but only %d flagged (%d possible duplicates)", duplicated, duplicates, flagged, flaggedCount)
	}
	t.Logf("%d messages accepted (%d POSTs retried on another instance); %d distinct received, %d lost; %d duplicate deliveries over %d messages; %d messages flagged possible_duplicates (%d in all); %d messages took more than one attempt; all sent %s after the kill",
		accepted.Load(), retries.Load(), len(got), lost, duplicates, duplicated, flagged, flaggedCount, retried, allSent.Round(100*time.Millisecond))
}
