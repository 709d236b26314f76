package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"envoi"
)

// attachmentJSON is an attachment as the API reads it, its content kept
// as the JSON string it came in.
type attachmentJSON struct {
	Filename    string   `json:"filename"`
	ContentType string   `json:"content_type"`
	Content     bodyText `json:"content_base64"`
	Document    bool     `json:"document"`
}

// bodyText is a JSON value as it is in the body, not copied: it is a
// slice of the buffer the body was read into, valid while that buffer is
// (decodeBody).
type bodyText []byte

func (t *bodyText) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	*t = bodyText(v)
	return err
}

// decodeAttachment reads an attachment of a JSON body. Its base64 text,
// when canonical (envoi.CanonicalBase64: what any base64 encoder writes on
// one line), is kept as it is in Encoded, for composing to cut into lines:
// checking it costs a table lookup a character where decoding it, then
// encoding it again, cost about a tenth of the CPU of a message with a
// 100 KB PDF (profiled with envoi bench). Any other text (line breaks,
// escaped characters, no padding) is decoded as before, with the same
// errors.
//
// With aliased nil the text is copied; else Encoded is the text where it
// is in the body's buffer, and *aliased is set: the buffer must then live
// as long as the attachment (decodeBody). texts are the texts taken out of
// the body before decoding (attachmentTexts), which placeholders stand for.
func decodeAttachment(dec *jsontext.Decoder, a *envoi.Attachment, aliased *bool, texts [][]byte) error {
	var in attachmentJSON
	if err := jsonv2.UnmarshalDecode(dec, &in); err != nil {
		return err
	}
	*a = envoi.Attachment{Filename: in.Filename, ContentType: in.ContentType, Document: in.Document}
	v := jsontext.Value(in.Content)
	// The text as it is, quotes included: taken out of the body before
	// decoding, checked then (attachmentTexts), or read by the decoder.
	text := attachmentText(v, texts)
	if text == nil && v.Kind() == '"' && bytes.IndexByte(v, '\\') < 0 && envoi.CanonicalBase64(v[1:len(v)-1]) {
		text = v
	}
	if text != nil {
		a.Encoded = text[1 : len(text)-1]
		if aliased == nil {
			a.Encoded = bytes.Clone(a.Encoded)
		} else {
			*aliased = true
		}
		return nil
	}
	if len(v) == 0 || v.Kind() == 'n' {
		return nil
	}
	err := jsonv2.Unmarshal(v, &a.Content, dec.Options())
	if serr, ok := err.(*jsonv2.SemanticError); ok && serr.JSONPointer == "" {
		// Named as when the field was decoded in place.
		serr.JSONPointer = dec.StackPointer() + "/content_base64"
	}
	return err
}

// attachmentUnmarshalers apply decodeAttachment to every attachment a body
// carries.
var attachmentUnmarshalers = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, a *envoi.Attachment) error {
	return decodeAttachment(dec, a, nil, nil)
}))

// multipartRequestPart and multipartFilePart are the part names of a send
// request uploaded as multipart/form-data: one "request" part holding the
// JSON of the request, and one "attachments" part a file.
const (
	multipartRequestPart = "request"
	multipartFilePart    = "attachments"
)

// decodeSendMultipart reads a send request uploaded as
// multipart/form-data (curl -F 'request=<send.json' -F
// 'attachments=@BL.pdf;type=application/pdf'): the "request" part is the
// JSON a JSON body would be, every "attachments" part a file, attached
// after the JSON's own attachments in the order sent, named by the part's
// file name and typed by its Content-Type. The parts are read as they
// arrive (nothing goes to disk), each file base64-encoded as it is read
// (the text composing cuts into lines), within the route's body limit.
// The same checks as a JSON body follow (SendRequest.Validate).
func (s *Server) decodeSendMultipart(r *http.Request) (*envoi.SendRequest, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "body", "multipart/form-data: %v", err)
	}
	var req *envoi.SendRequest
	var files []envoi.Attachment
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, multipartError(err, s.maxBody())
		}
		switch name := p.FormName(); name {
		case multipartRequestPart:
			if req != nil {
				return nil, envoi.FieldError(envoi.EInvalidInput, multipartRequestPart, "the part is sent twice")
			}
			req = &envoi.SendRequest{}
			if err := s.decodeJSON(p, 0, req); err != nil {
				return nil, err
			}
		case multipartFilePart:
			if len(files) >= envoi.MaxAttachments {
				return nil, envoi.FieldError(envoi.EInvalidInput, "attachments", "over %d attachments; the limit is %d per message", envoi.MaxAttachments, envoi.MaxAttachments).
					WithDetail("limit", envoi.MaxAttachments)
			}
			a, err := readFilePart(p, len(files))
			if err != nil {
				return nil, multipartError(err, s.maxBody())
			}
			files = append(files, a)
		default:
			return nil, envoi.FieldError(envoi.EInvalidInput, name, "unknown part (a multipart send has a %q part and %q parts)", multipartRequestPart, multipartFilePart)
		}
	}
	if req == nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, multipartRequestPart, "no %q part: the send request's JSON is required", multipartRequestPart)
	}
	req.Attachments = append(req.Attachments, files...)
	return req, nil
}

// readFilePart reads the i-th file part into an attachment, base64-encoded.
func readFilePart(p *multipart.Part, i int) (envoi.Attachment, error) {
	a := envoi.Attachment{Filename: p.FileName(), ContentType: p.Header.Get("Content-Type")}
	if a.Filename == "" {
		return a, envoi.FieldError(envoi.EInvalidInput, "attachments", "file %d has no filename (curl -F 'attachments=@file.pdf')", i)
	}
	var buf bytes.Buffer
	enc := base64.NewEncoder(base64.StdEncoding, &buf)
	if _, err := io.Copy(enc, p); err != nil {
		return a, err
	}
	_ = enc.Close()
	a.Encoded = buf.Bytes()
	return a, nil
}

// multipartError turns an error reading a multipart body into the API's.
func multipartError(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	var late *bodyTimeout
	if errors.As(err, &maxErr) || errors.As(err, &late) || errors.Is(err, context.Canceled) {
		return decodeError(err, limit)
	}
	if e := envoi.AsError(err); e != nil && e.Code != envoi.EInternal {
		return err
	}
	return envoi.FieldError(envoi.EInvalidInput, "body", "multipart/form-data: %v", err)
}
