package http

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"envoi"
)

// attachmentBodies are send requests whose attachments' texts the fast
// path takes out, or must leave in place, and bodies that do not decode.
func attachmentBodies() []string {
	pdf := make([]byte, 3000)
	for i := range pdf {
		pdf[i] = byte(i*7 + i>>5)
	}
	b64 := base64.StdEncoding.EncodeToString(pdf)
	small := base64.StdEncoding.EncodeToString(pdf[:90])
	head := `{"document_flow":"BL","operator":"jdupont","to":["a@example.com"],`
	return []string{
		head + `"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content_base64":"` + b64 + `"}]}`,
		// Two, and the member names in other cases, with white space.
		head + `"Attachments" : [ {"CONTENT_BASE64" :  "` + b64 + `" , "filename":"a.pdf"}, {"content_base64":"` + b64[4:] + `","filename":"b.pdf"} ]}`,
		// Too small to take out; then a big one.
		head + `"attachments":[{"content_base64":"` + small + `"},{"content_base64":"` + b64 + `"}]}`,
		// Escaped: left to the decoder.
		head + `"attachments":[{"content_base64":"` + b64[:100] + `\/` + b64[102:] + `"}]}`,
		head + `"attachments":[{"content\u005fbase64":"` + b64 + `"}]}`,
		// Not canonical (no padding, a line break): decoded.
		head + `"attachments":[{"content_base64":"` + strings.TrimRight(b64[:len(b64)-1], "=") + `"}]}`,
		head + `"attachments":[{"content_base64":"` + b64[:76] + `\r\n` + b64[76:] + `"}]}`,
		// The same name elsewhere: a keyword value, a nested object.
		head + `"context":{"content_base64":"` + b64 + `"},"attachments":[{"content_base64":"` + b64 + `"}]}`,
		head + `"entity":{"attachments":[{"content_base64":"` + b64 + `"}]}}`,
		head + `"attachments":[{"content_base64":{"x":"` + b64 + `"}}]}`,
		head + `"attachments":[[{"content_base64":"` + b64 + `"}]]}`,
		// A quote in a name or value before it, escaped.
		head + `"context":{"A\"":"\\\"x"},"attachments":[{"content_base64":"` + b64 + `"}]}`,
		// What looks like a placeholder, from the client.
		head + `"context":{"X":"\u00000"},"attachments":[{"content_base64":"` + b64 + `"}]}`,
		head + `"attachments":[{"content_base64":"\u00000"}]}`,
		// Wrong: cut short, a duplicate, trailing data, an unknown field,
		// a bad value after, a bad byte, unbalanced.
		head + `"attachments":[{"content_base64":"` + b64 + `"}]`,
		head + `"attachments":[{"content_base64":"` + b64 + `","content_base64":"` + b64 + `"}]}`,
		head + `"attachments":[{"content_base64":"` + b64 + `"}]} {}`,
		head + `"attachments":[{"content_base64":"` + b64 + `","size":1}]}`,
		head + `"attachments":[{"content_base64":"` + b64 + `"}],"to":3}`,
		head + `"attachments":[{"content_base64":"` + b64 + `"}],"to":["\xff"]}`,
		head + `"attachments":[{"content_base64":"` + b64 + `"}]}]}`,
		head + `"attachments":[{"content_base64":"` + b64,
	}
}

// TestAttachmentTextsDecodeAlike decodes each body as the API does (its
// attachments' texts taken out first) and straight from the body: the
// request, or the error, is the same.
func TestAttachmentTextsDecodeAlike(t *testing.T) {
	taken := 0
	for i, body := range attachmentBodies() {
		if _, texts := attachmentTexts([]byte(body)); texts != nil {
			taken++
		}
		fast, fastErr := decodeFast(body)
		slow, slowErr := decodeStraight(body)
		if (fastErr == nil) != (slowErr == nil) || fastErr != nil && fastErr.Error() != slowErr.Error() {
			t.Errorf("body %d: error %v, decoded straight %v", i, fastErr, slowErr)
			continue
		}
		if fastErr == nil && fast != slow {
			t.Errorf("body %d: decoded\n%s\nstraight\n%s", i, fast, slow)
		}
	}
	if taken < 10 {
		t.Errorf("texts taken out of %d bodies, want most of them", taken)
	}
}

// TestAttachmentTextsTakesOnlyAttachments checks what is taken out: the
// canonical texts of attachments, nothing else.
func TestAttachmentTextsTakesOnlyAttachments(t *testing.T) {
	bodies := attachmentBodies()
	for i, want := range map[int]int{0: 1, 1: 2, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 1, 8: 0, 9: 0, 10: 0, 11: 1, 12: 0, 13: 0} {
		skeleton, texts := attachmentTexts([]byte(bodies[i]))
		if len(texts) != want {
			t.Errorf("body %d: %d texts taken out, want %d", i, len(texts), want)
		}
		left := len(bodies[i])
		for _, text := range texts {
			left -= len(text) - len(placeholderPrefix) - 2 // one digit and a quote
		}
		if texts != nil && len(skeleton) != left {
			t.Errorf("body %d: the skeleton is %d bytes, want %d", i, len(skeleton), left)
		}
	}
}

// decodeFast decodes body as the API does and describes the request.
func decodeFast(body string) (string, error) {
	var req envoi.SendRequest
	release, err := (&Server{}).decodeBody(strings.NewReader(body), int64(len(body)), &req, true)
	defer release()
	if err != nil {
		return "", err
	}
	return describeRequest(&req), nil
}

// decodeStraight decodes body without taking any text out first.
func decodeStraight(body string) (string, error) {
	var req envoi.SendRequest
	if first := strings.TrimLeft(body, " \t\r\n"); first != "" && first[0] != '{' {
		return "", envoi.Errorf(envoi.EInvalidInput, "the body must be a JSON object")
	}
	aliased := false
	keep := jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, a *envoi.Attachment) error {
		return decodeAttachment(dec, a, &aliased, nil)
	}))
	if err := jsonv2.Unmarshal([]byte(body), &req, decodeOptions, keep); err != nil {
		return "", decodeError(err, 1<<30)
	}
	return describeRequest(&req), nil
}

// describeRequest writes req with its attachments' bytes.
func describeRequest(req *envoi.SendRequest) string {
	var b strings.Builder
	atts := req.Attachments
	r := *req
	r.Attachments = nil
	out, _ := jsonv2.Marshal(r)
	b.Write(out)
	for _, a := range atts {
		content := a.Content
		if a.Encoded != nil {
			var err error
			if content, err = base64.StdEncoding.DecodeString(string(a.Encoded)); err != nil {
				b.WriteString(" undecodable")
			}
		}
		b.WriteString(" [" + a.Filename + " " + a.ContentType + " " + base64.StdEncoding.EncodeToString(content) + "]")
	}
	return b.String()
}

// FuzzAttachmentTexts decodes any body both ways: the same request or the
// same error.
//
//	go test -run '^$' -fuzz FuzzAttachmentTexts ./http/
func FuzzAttachmentTexts(f *testing.F) {
	for _, b := range attachmentBodies() {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < minAttachmentText {
			// Below the threshold nothing is taken out: make it long.
			body = bytes.Replace(body, []byte(`"content_base64":"`), []byte(`"content_base64":"`+strings.Repeat("AAAA", minAttachmentText/4)), 1)
		}
		fast, fastErr := decodeFast(string(body))
		slow, slowErr := decodeStraight(string(body))
		if (fastErr == nil) != (slowErr == nil) || fastErr != nil && fastErr.Error() != slowErr.Error() {
			t.Fatalf("error %v, decoded straight %v", fastErr, slowErr)
		}
		if fast != slow {
			t.Fatalf("decoded\n%s\nstraight\n%s", fast, slow)
		}
	})
}

// TestAttachmentTextsDeepBody: a body nested a million levels deep costs
// the search no memory proportional to its depth (the decoder then
// refuses it).
func TestAttachmentTextsDeepBody(t *testing.T) {
	body := []byte(`{"attachments":[{"content_base64":` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + `}]}`)
	allocs := testing.AllocsPerRun(2, func() {
		if skeleton, texts := attachmentTexts(body); skeleton != nil || texts != nil {
			t.Fatal("a text taken out of a body without one")
		}
	})
	if allocs > 2 {
		t.Errorf("%v allocations for a body a million levels deep", allocs)
	}
	if _, err := decodeFast(string(body)); err == nil {
		t.Error("a body nested a million levels deep decoded")
	}
}
