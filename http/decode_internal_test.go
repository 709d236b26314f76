package http

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"runtime"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"envoi"
)

// TestDecodeAllocation: bodies are read into pooled buffers; decoding a
// request carrying a 100 KB attachment allocates little more than the
// attachment's base64 text, which it keeps (about 2.5 times as much
// without the pool).
func TestDecodeAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations under the race detector are not the program's; .ci/run runs this test without it")
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 envoi "), 100<<10/15)
	body := []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.com"],"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content_base64":"` +
		base64.StdEncoding.EncodeToString(pdf) + `"}]}`)
	s := &Server{}
	decode := func() *envoi.SendRequest {
		r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(body))
		var req envoi.SendRequest
		if err := s.decode(httptest.NewRecorder(), r, &req); err != nil {
			t.Fatal(err)
		}
		return &req
	}
	// The first fills the pool.
	if got, _ := base64.StdEncoding.DecodeString(string(decode().Attachments[0].Encoded)); !bytes.Equal(got, pdf) {
		t.Fatal("the attachment's base64 was not kept")
	}
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		decode()
	}
	runtime.ReadMemStats(&after)
	perDecode := (after.TotalAlloc - before.TotalAlloc) / runs
	if limit := uint64(base64.StdEncoding.EncodedLen(len(pdf))) * 5 / 4; perDecode > limit {
		t.Errorf("a decode allocates %d bytes, want at most %d (the attachment is %d)", perDecode, limit, len(pdf))
	}
}

// TestDecodeSendHoldsTheBody: a send request's attachment text is the
// body's own bytes until release (no copy), and a body decoded without
// holding is never lent to the next request while an attachment still
// points into it.
func TestDecodeSendHoldsTheBody(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7 envoi "), 100<<10/15)
	bodyOf := func(b []byte) []byte {
		return []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.com"],"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content_base64":"` +
			base64.StdEncoding.EncodeToString(b) + `"}]}`)
	}
	s := &Server{}
	body := bodyOf(pdf)
	send := func() (*envoi.SendRequest, func()) {
		r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(body))
		req, release, err := s.decodeSend(httptest.NewRecorder(), r)
		if err != nil {
			t.Fatal(err)
		}
		return req, release
	}
	first, release := send()
	if got, _ := base64.StdEncoding.DecodeString(string(first.Attachments[0].Encoded)); !bytes.Equal(got, pdf) {
		t.Fatal("the attachment's base64 was not kept")
	}
	release()
	if !raceEnabled {
		// Held then released: the text is not copied and the buffer goes
		// back to the pool, so a decode allocates a small part of it.
		const runs = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			_, release := send()
			release()
		}
		runtime.ReadMemStats(&after)
		if per, limit := (after.TotalAlloc-before.TotalAlloc)/runs, uint64(len(pdf)/4); per > limit {
			t.Errorf("a held decode allocates %d bytes, want at most %d (the attachment is %d)", per, limit, len(pdf))
		}
	}

	// Not held (decodeJSON): the next request must not write over the
	// text the first one keeps.
	var kept envoi.SendRequest
	if err := s.decodeJSON(bytes.NewReader(bodyOf(pdf)), int64(len(bodyOf(pdf))), &kept); err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{0xA5}, len(pdf))
	for range 4 {
		var req envoi.SendRequest
		if err := s.decodeJSON(bytes.NewReader(bodyOf(other)), int64(len(bodyOf(other))), &req); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := base64.StdEncoding.DecodeString(string(kept.Attachments[0].Encoded)); !bytes.Equal(got, pdf) {
		t.Fatal("a body decoded without holding was lent to the next request while its attachment pointed into it")
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

// TestDecodeAttachmentKeepsBase64: an attachment's canonical base64 is kept
// as it came (Encoded, Content nil), under any spelling of the field's
// name; any other text is decoded into Content, and bad base64 is the same
// invalid_input naming the field.
func TestDecodeAttachmentKeepsBase64(t *testing.T) {
	decode := func(attachment string) (*envoi.SendRequest, error) {
		body := `{"document_flow":"BL","attachments":[` + attachment + `]}`
		var req envoi.SendRequest
		err := (&Server{}).decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/messages", bytes.NewReader([]byte(body))), &req)
		return &req, err
	}
	for _, tc := range []struct{ json, encoded, content string }{
		{`{"filename":"a.pdf","content_type":"application/pdf","content_base64":"aGVsbG8="}`, "aGVsbG8=", ""},
		{`{"Filename":"a.pdf","Content_Base64":"aGVsbG8h"}`, "aGVsbG8h", ""},
		{`{"filename":"a.pdf","content_base64":""}`, "", ""},
		// Not canonical: the unused bits of the last character are set,
		// or a character is escaped. Decoded as before.
		{`{"filename":"a.pdf","content_base64":"aGVsbG9="}`, "", "hello"},
		{`{"filename":"a.pdf","content_base64":"aGVs\u0062G8="}`, "", "hello"},
	} {
		req, err := decode(tc.json)
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		a := req.Attachments[0]
		if a.Filename != "a.pdf" || string(a.Encoded) != tc.encoded || string(a.Content) != tc.content {
			t.Errorf("%s: filename %q, encoded %q, content %q; want encoded %q, content %q", tc.json, a.Filename, a.Encoded, a.Content, tc.encoded, tc.content)
		}
		if a.Encoded != nil && a.Content != nil {
			t.Errorf("%s: both encoded %q and content %q set", tc.json, a.Encoded, a.Content)
		}
	}
	if req, err := decode(`{"filename":"a.pdf","content_base64":null}`); err != nil || req.Attachments[0].Encoded != nil || req.Attachments[0].Content != nil {
		t.Errorf("null content: %v, %+v", err, req.Attachments)
	}
	for _, bad := range []string{`"!!!"`, `"aGVsbG8"`, `"===="`, `"YQ==YQ=="`, `"\u0000"`, `12`} {
		_, err := decode(`{"filename":"a.pdf","content_base64":` + bad + `}`)
		if e := envoi.AsError(err); e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "attachments.0.content_base64" {
			t.Errorf("content %s: %v, want invalid_input on attachments.0.content_base64", bad, err)
		}
	}
	if _, err := decode(`{"filename":"a.pdf","content_base64":"aGVsbG8=","extra":1}`); envoi.ErrorCode(err) != envoi.EInvalidInput {
		t.Errorf("unknown field in an attachment: %v, want invalid_input", err)
	}
}

// BenchmarkDecodeAttachment decodes a send request carrying a 100 KB PDF
// the way the API does (kept: its base64 checked and kept) and the way it
// did before (decoded: the base64 decoded into bytes).
//
//	go test ./http -run '^$' -bench DecodeAttachment -benchmem
func BenchmarkDecodeAttachment(b *testing.B) {
	pdf := make([]byte, 100<<10)
	for i := range pdf {
		pdf[i] = byte(i*7 + i>>11)
	}
	body := []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.com"],"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content_base64":"` +
		base64.StdEncoding.EncodeToString(pdf) + `"}]}`)
	decoded := jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true))
	for _, c := range []struct {
		name string
		opts jsonv2.Options
	}{{"kept", decodeOptions}, {"decoded", decoded}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var req envoi.SendRequest
				if err := jsonv2.Unmarshal(body, &req, c.opts); err != nil {
					b.Fatal(err)
				}
				if req.Attachments[0].Size() != int64(len(pdf)) {
					b.Fatal("wrong size")
				}
			}
		})
	}
	// As the API reads a body: its attachment text taken out before
	// decoding (attachmentTexts).
	b.Run("api", func(b *testing.B) {
		s := &Server{}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var req envoi.SendRequest
			release, err := s.decodeBody(bytes.NewReader(body), int64(len(body)), &req, true)
			if err != nil {
				b.Fatal(err)
			}
			if req.Attachments[0].Size() != int64(len(pdf)) {
				b.Fatal("wrong size")
			}
			release()
		}
	})
}
