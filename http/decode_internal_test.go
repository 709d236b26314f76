package http

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"runtime"
	"testing"

	"envoi"
)

// TestDecodeAllocation: bodies are read into pooled buffers; decoding a
// request carrying a 100 KB attachment allocates little more than the
// attachment itself (about 2.5 times as much without the pool).
func TestDecodeAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations under the race detector are not the program's; .ci/run runs this test without it")
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 envoi "), 100<<10/15)
	body := []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.com"],"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content_base64":"` +
		base64.StdEncoding.EncodeToString(pdf) + `"}]}`)
	s := &Server{}
	decode := func() {
		r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(body))
		var req envoi.SendRequest
		if err := s.decode(httptest.NewRecorder(), r, &req); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(req.Attachments[0].Content, pdf) {
			t.Fatal("the attachment did not decode")
		}
	}
	decode() // fills the pool
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		decode()
	}
	runtime.ReadMemStats(&after)
	perDecode := (after.TotalAlloc - before.TotalAlloc) / runs
	if limit := uint64(len(pdf)) * 3 / 2; perDecode > limit {
		t.Errorf("a decode allocates %d bytes, want at most %d (the attachment is %d)", perDecode, limit, len(pdf))
	}
}

// TestDecodeErrorsSpeakJSON: a value of the wrong kind is named in the
// API's words (a list of strings, an object), never by its Go type.
func TestDecodeErrorsSpeakJSON(t *testing.T) {
	s := &Server{}
	for body, want := range map[string]string{
		`{"to":"a@example.org"}`:              "to: expected a list of strings, found a string",
		`{"context":["x"]}`:                   "context: expected an object of string values, found a list",
		`{"report":"delivery_note"}`:          "report: expected an object, found a string",
		`{"attachments":[{"filename":12}]}`:   "attachments.0.filename: expected a string, found a number",
		`{"entity":{"type":"BL","id":["1"]}}`: "entity.id: expected a string, found a list",
		`{"document_flow":"BL","to":[true]}`:  "to.0: expected a string, found true or false",
	} {
		r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader([]byte(body)))
		var req envoi.SendRequest
		err := s.decode(httptest.NewRecorder(), r, &req)
		e := envoi.AsError(err)
		got := e.Details["field"].(string) + ": " + e.Message
		if e.Code != envoi.EInvalidInput || !bytes.Contains([]byte(got), []byte(want)) {
			t.Errorf("%s: %s %q, want %q", body, e.Code, got, want)
		}
		for _, goWord := range []string{"[]string", "map[", "string]", "envoi.", "main.", "struct"} {
			if bytes.Contains([]byte(e.Message), []byte(goWord)) {
				t.Errorf("%s: the error %q shows a Go type", body, e.Message)
			}
		}
	}
}
