package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestComposeGateUnderLoad: serve with one send composed at once and one
// waiting (--compose-concurrency 1 --compose-queue 1), eight ERP threads
// posting delivery notes with a PDF. Every answer is 202, or 503
// unavailable with Retry-After after which the same request with the same
// Idempotency-Key is accepted; every message is stored once and
// delivered once; /metrics counts exactly the refusals the clients saw.
func TestComposeGateUnderLoad(t *testing.T) {
	e := MustStart(t, EnvOptions{Args: []string{"--compose-concurrency", "1", "--compose-queue", "1", "--compose-wait", "50ms"}})
	e.configureUnthrottled()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 envoi gate "), 50<<10/20)
	const threads, each = 8, 6

	var mu sync.Mutex
	ids := map[string]string{} // Idempotency-Key → message id
	refused := 0
	var wg sync.WaitGroup
	for w := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("gate-%d-%d", w, i)
				req := blRequest(key + "@example.org")
				req["attachments"] = []map[string]string{{"filename": "BL.pdf", "content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString(pdf)}}
				body, _ := json.Marshal(req)
				for {
					r, retryAfter := postWithRetryAfter(e, body, key)
					if r.Err != nil {
						t.Errorf("%s: %v", key, r.Err)
						return
					}
					if r.Status == http.StatusServiceUnavailable {
						if r.code() != "unavailable" || retryAfter < 1 {
							t.Errorf("%s: 503 %s with Retry-After %d, want unavailable with a Retry-After", key, r.Body, retryAfter)
							return
						}
						mu.Lock()
						refused++
						mu.Unlock()
						// Sooner than Retry-After: the test need not wait.
						time.Sleep(10 * time.Millisecond)
						continue
					}
					var m messageJSON
					if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &m) != nil || m.ID == "" {
						t.Errorf("%s: %d %s, want 202 or 503", key, r.Status, r.Body)
						return
					}
					mu.Lock()
					ids[key] = m.ID
					mu.Unlock()
					break
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d messages accepted, %d refusals posted again", len(ids), refused)
	if len(ids) != threads*each {
		t.Fatalf("%d messages accepted, want %d", len(ids), threads*each)
	}
	list := make([]string, 0, len(ids))
	for _, id := range ids {
		list = append(list, id)
	}
	sent := e.waitAll(t, list, 2*time.Minute, "sent", func(m messageJSON) bool { return m.Status == "sent" })
	checkDeliveredOnce(t, e.SMTP, sent)
	if n := e.countMessages(t); n != threads*each {
		t.Errorf("%d messages stored, want %d", n, threads*each)
	}

	resp, err := http.Get(e.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	if !regexp.MustCompile(`(?m)^envoi_http_compose_capacity 1$`).MatchString(metrics) {
		t.Errorf("/metrics does not show the gate's capacity of 1:\n%s", grepLines(metrics, "envoi_http_compose"))
	}
	counted := 0
	for _, m := range regexp.MustCompile(`(?m)^envoi_http_compose_refused_total\{reason="(?:full|timeout)"\} (\d+)$`).FindAllStringSubmatch(metrics, -1) {
		n, _ := strconv.Atoi(m[1])
		counted += n
	}
	if counted != refused {
		t.Errorf("/metrics counts %d refusals, the clients saw %d:\n%s", counted, refused, grepLines(metrics, "envoi_http_compose"))
	}
}

// postWithRetryAfter posts a send and returns the answer and its
// Retry-After in seconds (0 when absent).
func postWithRetryAfter(e *Env, body []byte, key string) (rawResult, int) {
	req, err := http.NewRequest("POST", e.Base+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return rawResult{Err: err}, 0
	}
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResult{Err: err}, 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return rawResult{Status: resp.StatusCode, Body: b, Err: err}, ra
}
