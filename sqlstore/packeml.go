package sqlstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// On PostgreSQL a composed message is stored packed: its runs of base64
// lines, the attachments that make most of its size, are kept as the
// bytes they encode, three quarters of their text. The server's work for
// a message (the WAL, the TOAST chunks, the read back by the worker)
// grows with the bytes stored, and PostgreSQL is what several instances
// share; packing and unpacking are the instances' work.
//
// A packed message is packedMagic, then segments, each a tag byte and a
// count (4 bytes, big-endian):
//   - 'r' and n: n bytes as they are;
//   - 'b' and k: k lines of 76 base64 characters, each followed by CRLF,
//     kept as the 57 bytes each encodes (57·k bytes).
//
// A line of 76 characters of the standard alphabet, without padding,
// encodes exactly 57 bytes and is the only text that encodes them, so
// unpacking gives back the bytes packed, whatever they were. Stored
// bytes that do not start with packedMagic are read as they are (those
// stored before packing, and SQLite's); a composed message never starts
// with a NUL byte.

// packedMagic starts a packed message.
const packedMagic = "\x00envoi-packed-1\n"

const (
	// b64Line is the length of a full base64 line, and b64Bytes what it
	// encodes.
	b64Line  = 76
	b64Bytes = 57
	// minB64Run is the fewest lines a 'b' segment holds: a shorter run
	// saves less than its segment costs.
	minB64Run = 2
)

// packEML returns eml packed (see above), or eml itself when it is too
// large for a segment's count.
func packEML(eml []byte) []byte {
	if len(eml) > math.MaxUint32 {
		return eml
	}
	out := make([]byte, 0, len(packedMagic)+len(eml)*3/4+64)
	out = append(out, packedMagic...)
	raw := 0 // start of the bytes not yet written
	for i := 0; i < len(eml); {
		if b64Run(eml[i:]) {
			out = appendSegment(out, 'r', eml[raw:i])
			at := len(out)
			out = append(out, 'b', 0, 0, 0, 0)
			n := 0
			for ; i+b64Line+2 <= len(eml) && eml[i+b64Line] == '\r' && eml[i+b64Line+1] == '\n'; n++ {
				o := len(out)
				out = append(out, make([]byte, b64Bytes)...)
				if !decodeLine(out[o:], eml[i:i+b64Line]) {
					out = out[:o]
					break
				}
				i += b64Line + 2
			}
			binary.BigEndian.PutUint32(out[at+1:], uint32(n))
			raw = i
			continue
		}
		nl := bytes.IndexByte(eml[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	return appendSegment(out, 'r', eml[raw:])
}

// b64Run reports whether b starts with minB64Run base64 lines: each 76
// characters and a CRLF. Only so many are looked at, so that a message of
// many lines of 76 characters that are not base64 (quoted-printable's) is
// read once, not once a line.
func b64Run(b []byte) bool {
	var scratch [b64Bytes]byte
	for range minB64Run {
		if len(b) < b64Line+2 || b[b64Line] != '\r' || b[b64Line+1] != '\n' || !decodeLine(scratch[:], b[:b64Line]) {
			return false
		}
		b = b[b64Line+2:]
	}
	return true
}

// decodeLine decodes the 76 characters of line into the 57 bytes of dst
// and reports whether they are a base64 line: 57 bytes without error
// (a CR or an LF would give fewer, padding an error).
func decodeLine(dst, line []byte) bool {
	n, err := base64.StdEncoding.Decode(dst, line)
	return err == nil && n == b64Bytes
}

// appendSegment appends to out a segment tag of b, none when b is empty.
func appendSegment(out []byte, tag byte, b []byte) []byte {
	if len(b) == 0 {
		return out
	}
	out = append(out, tag)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	return append(out, b...)
}

// errPacked is a packed message that does not unpack.
var errPacked = errors.New("damaged packed message")

// unpackEML returns the message stored as b: b itself unless it is
// packed.
func unpackEML(b []byte) ([]byte, error) {
	p, ok := bytes.CutPrefix(b, []byte(packedMagic))
	if !ok {
		return b, nil
	}
	// The size first, so that the message is made in one allocation.
	size := 0
	for rest := p; len(rest) > 0; {
		tag, n, _, next, err := nextSegment(rest)
		if err != nil {
			return nil, err
		}
		if tag == 'r' {
			size += n
		} else {
			size += n * (b64Line + 2)
		}
		rest = next
	}
	out := make([]byte, size)
	o := 0
	for rest := p; len(rest) > 0; {
		tag, n, body, next, _ := nextSegment(rest)
		if tag == 'r' {
			o += copy(out[o:], body)
		} else {
			for l := range n {
				base64.StdEncoding.Encode(out[o:o+b64Line], body[l*b64Bytes:(l+1)*b64Bytes])
				out[o+b64Line], out[o+b64Line+1] = '\r', '\n'
				o += b64Line + 2
			}
		}
		rest = next
	}
	return out, nil
}

// nextSegment reads the segment at the start of p: its tag, its count,
// its bytes and what follows it.
func nextSegment(p []byte) (tag byte, n int, body, next []byte, err error) {
	if len(p) < 5 || (p[0] != 'r' && p[0] != 'b') {
		return 0, 0, nil, nil, errPacked
	}
	tag, c := p[0], uint64(binary.BigEndian.Uint32(p[1:]))
	p = p[5:]
	size := c
	if tag == 'b' {
		size = c * b64Bytes
	}
	if size == 0 || size > uint64(len(p)) {
		return 0, 0, nil, nil, fmt.Errorf("%w: a segment of %d bytes where %d are left", errPacked, size, len(p))
	}
	return tag, int(c), p[:size], p[size:], nil
}
