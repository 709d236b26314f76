package http

import (
	"bytes"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"envoi"
)

// attachmentJSON is an attachment as the API reads it, its content kept
// as the JSON string it came in.
type attachmentJSON struct {
	Filename    string         `json:"filename"`
	ContentType string         `json:"content_type"`
	Content     jsontext.Value `json:"content_base64"`
}

// decodeAttachment reads an attachment of a JSON body. Its base64 text,
// when canonical (envoi.CanonicalBase64: what any base64 encoder writes on
// one line), is kept as it is in Encoded, for composing to cut into lines:
// checking it costs a table lookup a character where decoding it, then
// encoding it again, cost about a tenth of the CPU of a message with a
// 100 KB PDF (profiled with envoi bench). Any other text (line breaks,
// escaped characters, no padding) is decoded as before, with the same
// errors.
func decodeAttachment(dec *jsontext.Decoder, a *envoi.Attachment) error {
	var in attachmentJSON
	if err := jsonv2.UnmarshalDecode(dec, &in); err != nil {
		return err
	}
	*a = envoi.Attachment{Filename: in.Filename, ContentType: in.ContentType}
	v := in.Content
	if len(v) == 0 || v.Kind() == 'n' {
		return nil
	}
	if v.Kind() == '"' && bytes.IndexByte(v, '\\') < 0 {
		// The value is the decoder's copy: the text is kept in place.
		if text := v[1 : len(v)-1]; envoi.CanonicalBase64(text) {
			a.Encoded = text
			return nil
		}
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
var attachmentUnmarshalers = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(decodeAttachment))
