package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
)

// multipartPart is one part of a multipart/form-data upload.
type multipartPart struct {
	name, filename, contentType string
	body                        []byte
}

// postMultipart posts parts as multipart/form-data, as curl -F does.
func (e *Env) postMultipart(path string, parts []multipartPart, headers ...string) rawResult {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", disp)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, _ := w.CreatePart(h)
		pw.Write(p.body)
	}
	w.Close()
	req, _ := http.NewRequest("POST", e.Base+path, &b)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", w.FormDataContentType())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResult{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawResult{Status: resp.StatusCode, Body: body, Err: err}
}

// sentAttachments returns the attachments of the message the SMTP server
// received with messageID: file name to decoded bytes, and content type.
func sentAttachments(t *testing.T, e *Env, messageID string) (map[string][]byte, map[string]string) {
	t.Helper()
	for _, sm := range e.SMTP.Messages() {
		if !bytes.Contains(sm.Data, []byte(messageID)) {
			continue
		}
		msg, err := mail.ReadMessage(bytes.NewReader(sm.Data))
		if err != nil {
			t.Fatal(err)
		}
		_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		mr := multipart.NewReader(msg.Body, params["boundary"])
		files, types := map[string][]byte{}, map[string]string{}
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			if p.FileName() == "" {
				continue
			}
			raw, _ := io.ReadAll(p)
			for _, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 76 {
					t.Errorf("%s: a base64 line of %d characters", p.FileName(), len(line))
				}
			}
			b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
			if err != nil {
				t.Fatalf("%s: %v", p.FileName(), err)
			}
			files[p.FileName()], types[p.FileName()] = b, p.Header.Get("Content-Type")
		}
		return files, types
	}
	t.Fatalf("the SMTP server did not receive %s", messageID)
	return nil, nil
}

// TestSendMultipart: POST /v1/messages takes multipart/form-data, the
// request's JSON in a "request" part and binary files in "attachments"
// parts, and sends those files as they were uploaded, after the JSON's own;
// the same files in base64 under the same Idempotency-Key replay the
// message; a part missing, unknown or without a file name, bad JSON and a
// file over the flow's limit are refused with the JSON body's codes.
func TestSendMultipart(t *testing.T) {
	e := hostileEnv(t)
	pdf := make([]byte, 100<<10+1)
	for i := range pdf {
		pdf[i] = byte(i*31 + i>>8)
	}
	copy(pdf, "%PDF-1.7\n")
	notes := []byte("notes\x00\xff\r\n")
	withJSONFile := blRequest("client@example.org")
	withJSONFile["attachments"] = []map[string]string{{"filename": "cgv.txt", "content_type": "text/plain", "content_base64": base64.StdEncoding.EncodeToString([]byte("CGV"))}}
	reqJSON, _ := json.Marshal(withJSONFile)

	parts := []multipartPart{
		{name: "request", contentType: "application/json", body: reqJSON},
		{name: "attachments", filename: "BL_12345.pdf", contentType: "application/pdf", body: pdf},
		{name: "attachments", filename: "notes.bin", body: notes},
	}
	r := e.postMultipart("/v1/messages?wait=10s", parts, "Idempotency-Key", "multipart-1")
	var m messageJSON
	if r.Err != nil || r.Status != 200 || json.Unmarshal(r.Body, &m) != nil || m.Status != "sent" {
		t.Fatalf("multipart send: %d %v %s", r.Status, r.Err, r.Body)
	}
	files, types := sentAttachments(t, e, m.MessageID)
	if len(files) != 3 || !bytes.Equal(files["BL_12345.pdf"], pdf) || !bytes.Equal(files["notes.bin"], notes) || string(files["cgv.txt"]) != "CGV" {
		t.Errorf("sent files %d: pdf equal %v, notes %q, cgv %q", len(files), bytes.Equal(files["BL_12345.pdf"], pdf), files["notes.bin"], files["cgv.txt"])
	}
	if !strings.HasPrefix(types["BL_12345.pdf"], "application/pdf") {
		t.Errorf("the PDF was sent as %q", types["BL_12345.pdf"])
	}

	// The preview takes the same upload.
	if pr := e.postMultipart("/v1/messages/preview", parts); pr.Status != 200 || !bytes.Contains(pr.Body, []byte("BL_12345.pdf")) {
		t.Errorf("multipart preview: %d %.300s", pr.Status, pr.Body)
	}

	// The same request as one JSON body, under the same key: replayed.
	same := blRequest("client@example.org")
	same["attachments"] = []map[string]string{
		{"filename": "cgv.txt", "content_type": "text/plain", "content_base64": base64.StdEncoding.EncodeToString([]byte("CGV"))},
		{"filename": "BL_12345.pdf", "content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString(pdf)},
		{"filename": "notes.bin", "content_type": "", "content_base64": base64.StdEncoding.EncodeToString(notes)},
	}
	var again messageJSON
	e.MustDo(200, "POST", "/v1/messages", same, &again, "Idempotency-Key", "multipart-1")
	if again.ID != m.ID {
		t.Errorf("the same request as JSON under the same key: id %s, want %s", again.ID, m.ID)
	}

	big := make([]byte, 26<<20)
	for _, c := range []struct {
		name   string
		parts  []multipartPart
		status int
		code   string
	}{
		{"NoRequest", parts[1:], 400, "invalid_input"},
		{"UnknownPart", append(parts[:1:1], multipartPart{name: "file", filename: "a.pdf", body: pdf}), 400, "invalid_input"},
		{"NoFileName", append(parts[:1:1], multipartPart{name: "attachments", body: pdf}), 400, "invalid_input"},
		{"RequestTwice", []multipartPart{parts[0], parts[0]}, 400, "invalid_input"},
		{"BadJSON", []multipartPart{{name: "request", body: []byte(`{"document_flow":`)}}, 400, "invalid_input"},
		{"NotAnObject", []multipartPart{{name: "request", body: []byte(`[1]`)}}, 400, "invalid_input"},
		{"UnknownField", []multipartPart{{name: "request", body: []byte(`{"nope":1}`)}}, 400, "invalid_input"},
		{"NoRecipient", []multipartPart{{name: "request", body: []byte(`{"document_flow":"BL","operator":"jdupont"}`)}, parts[1]}, 400, "invalid_input"},
		{"OverTheFlowLimit", append(parts[:1:1], multipartPart{name: "attachments", filename: "big.bin", body: big}), 422, "attachments_too_big"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.postMultipart("/v1/messages", c.parts), c.status, c.code)
		})
	}
	t.Run("NotMultipart", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.Base+"/v1/messages", strings.NewReader("--x\r\n"))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "multipart/form-data") // no boundary
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, rawResult{Status: resp.StatusCode, Body: b}, 400, "invalid_input")
	})
}
