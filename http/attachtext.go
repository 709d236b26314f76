package http

import (
	"bytes"
	"strconv"

	"envoi"
)

// The JSON decoder reads a string a byte at a time, checking each for a
// quote, a backslash, a control character or the start of a UTF-8
// sequence: on a send request with a 100 KB PDF, whose base64 text is 97%
// of the body, that was 7.6% of envoi bench's CPU, and CanonicalBase64
// then read the same text again. Before decoding, attachmentTexts finds
// the attachments' base64 texts in the body with bytes.IndexByte (vector
// instructions) and CanonicalBase64, and hands the decoder a copy of the
// body with each replaced by a short placeholder (a few hundred bytes are
// copied where the texts are 137 KB); decodeAttachment takes the text back
// from the body. The texts it takes are those decodeAttachment keeps as
// they are anyway: canonical base64 with no escape, which holds no byte
// the decoder would refuse, so the decoder's verdict on the body is the
// same; anything else is left in place, for the decoder.

// minAttachmentText is the length from which an attachment's text is
// taken out of the body before decoding: below it, the decoder is as fast.
const minAttachmentText = 1024

// placeholderPrefix starts the placeholder of a text taken out: a JSON
// string beginning with an escaped NUL. A body that holds this sequence
// anywhere is decoded as it is, so a placeholder is never the client's.
const placeholderPrefix = `"\u0000`

// attachmentTexts returns, for a body holding at least one attachment text
// to take out, the body with each replaced by a placeholder and the texts
// (their quotes included), in order; nil, nil when there is none, or when
// the body is not the shape it expects, for the decoder to judge.
//
// It follows the body's structure only as far as it needs to: strings are
// skipped with bytes.IndexByte, and a text is taken out only where it is
// the value of a "content_base64" member (names match whatever their case,
// as the decoder's options do) of an object in the "attachments" array of
// the top-level object. It keeps what it knows of the first three levels
// of containers only, in fixed arrays: a body nested deeper costs it no
// memory (the decoder refuses one nested too deep).
func attachmentTexts(body []byte) (skeleton []byte, texts [][]byte) {
	if len(body) < minAttachmentText || bytes.Contains(body, []byte(placeholderPrefix[1:])) {
		return nil, nil
	}
	const levels = 3 // {"attachments": [{"content_base64": ...}]}
	var (
		depth int              // containers open
		kinds [levels + 1]byte // '{' or '[' of the container at each level, 1 to 3
		under [levels + 1][]byte
		// under[d]: the member name the container at level d is the
		// value of; name: the member name being read at the current
		// level (the last plain string followed by ':'), nil when
		// unknown or deeper than 3.
		name []byte
		last int // body[last:] is not copied to skeleton yet
	)
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '{', '[':
			depth++
			if depth <= levels {
				kinds[depth], under[depth] = c, name
			}
			name = nil
			i++
		case '}', ']':
			if depth == 0 {
				return nil, nil
			}
			name = nil
			if depth <= levels {
				name = under[depth]
			}
			depth--
			i++
		case '"':
			end, plain := stringEnd(body, i)
			if end < 0 {
				return nil, nil
			}
			j := skipSpace(body, end)
			if j < len(body) && body[j] == ':' {
				// A member's name; an escaped one is not compared.
				name = nil
				if plain && depth <= levels {
					name = body[i+1 : end-1]
				}
				i = j + 1
				continue
			}
			if plain && end-i-2 >= minAttachmentText && depth == levels && string(kinds[1:]) == "{[{" &&
				equalFoldASCII(under[2], "attachments") && equalFoldASCII(name, "content_base64") &&
				envoi.CanonicalBase64(body[i+1:end-1]) {
				skeleton = append(skeleton, body[last:i]...)
				skeleton = append(skeleton, placeholderPrefix...)
				skeleton = strconv.AppendInt(skeleton, int64(len(texts)), 10)
				skeleton = append(skeleton, '"')
				texts = append(texts, body[i:end])
				last = end
			}
			i = end
		default:
			i++
		}
	}
	if texts == nil {
		return nil, nil
	}
	return append(skeleton, body[last:]...), texts
}

// stringEnd returns the offset just past the JSON string starting at
// body[start] (a quote), and whether it holds no escape; -1 when it does
// not end.
func stringEnd(body []byte, start int) (end int, plain bool) {
	plain = true
	for p := start + 1; ; {
		q := bytes.IndexByte(body[p:], '"')
		if q < 0 {
			return -1, false
		}
		r := bytes.IndexByte(body[p:p+q], '\\')
		if r < 0 {
			return p + q + 1, plain
		}
		// An escape: the backslash and the character after it, whatever
		// it is (an escaped quote does not end the string).
		plain = false
		p += r + 2
		if p > len(body) {
			return -1, false
		}
	}
}

// skipSpace returns the offset of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(body []byte, i int) int {
	for i < len(body) {
		switch body[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// equalFoldASCII reports whether a equals b, an ASCII lower-case word,
// whatever a's case.
func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// attachmentText returns the text v stands for when v is a placeholder of
// texts (attachmentTexts), else nil.
func attachmentText(v []byte, texts [][]byte) []byte {
	if len(texts) == 0 || !bytes.HasPrefix(v, []byte(placeholderPrefix)) || len(v) < len(placeholderPrefix)+2 || v[len(v)-1] != '"' {
		return nil
	}
	n, err := strconv.Atoi(string(v[len(placeholderPrefix) : len(v)-1]))
	if err != nil || n < 0 || n >= len(texts) {
		return nil
	}
	return texts[n]
}
