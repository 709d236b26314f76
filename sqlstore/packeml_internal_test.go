package sqlstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// composedLike is a message as compose writes one: headers, a text
// part, and an attachment of n random bytes in base64 lines of 76.
func composedLike(n int) []byte {
	pdf := make([]byte, n)
	_, _ = rand.Read(pdf)
	text := base64.StdEncoding.EncodeToString(pdf)
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: BL 42\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nBonjour,\r\nveuillez trouver le bon de livraison.\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(text) > 76 {
		b.WriteString(text[:76] + "\r\n")
		text = text[76:]
	}
	b.WriteString(text + "\r\n--x--\r\n")
	return b.Bytes()
}

func TestPackEMLRoundTrip(t *testing.T) {
	line := strings.Repeat("QUJD", 19) // 76 characters
	for name, eml := range map[string][]byte{
		"empty":              {},
		"composed":           composedLike(100 << 10),
		"attachment of 57":   composedLike(57),
		"attachment of 114":  composedLike(114),
		"no line end":        []byte("Subject: x"),
		"lines of LF":        []byte(line + "\n" + line + "\n" + line + "\n"),
		"padding":            []byte(strings.Repeat(line[:72]+"QQ==\r\n", 3)),
		"a run at the end":   []byte("x\r\n" + line + "\r\n" + line + "\r\n"),
		"run without CRLF":   []byte(line + "\r\n" + line),
		"bare CR in a line":  []byte(strings.Repeat(line[:40]+"\r"+line[41:]+"\r\n", 3)),
		"starts packed":      []byte(packedMagic + line + "\r\n" + line + "\r\n"),
		"long line":          []byte(strings.Repeat(line+"A\r\n", 3)),
		"a line of 76 alone": []byte("a\r\n" + line + "\r\nb\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			p := packEML(eml)
			got, err := unpackEML(p)
			if err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if !bytes.Equal(got, eml) {
				t.Fatalf("unpacked %q, want %q", got, eml)
			}
		})
	}
}

func TestPackEMLKeepsAttachmentsAsBytes(t *testing.T) {
	eml := composedLike(100 << 10)
	p := packEML(eml)
	// The attachment's text is 4/3 of its bytes plus the line ends;
	// packed, it is its bytes.
	if max := 100<<10 + 1024; len(p) > max {
		t.Errorf("packed %d bytes into %d, want at most %d", len(eml), len(p), max)
	}
}

func TestUnpackEMLAsStored(t *testing.T) {
	// Bytes stored before packing, and SQLite's, are read as they are.
	eml := composedLike(1000)
	got, err := unpackEML(eml)
	if err != nil || !bytes.Equal(got, eml) {
		t.Fatalf("unpack of a message not packed: %v", err)
	}
}

func TestUnpackEMLDamaged(t *testing.T) {
	p := packEML(composedLike(10 << 10))
	for name, b := range map[string][]byte{
		"cut":         p[:len(p)-10],
		"unknown tag": []byte(packedMagic + "z\x00\x00\x00\x01a"),
		"no count":    []byte(packedMagic + "r"),
		"huge count":  []byte(packedMagic + "b\xff\xff\xff\xffabc"),
		"empty raw":   []byte(packedMagic + "r\x00\x00\x00\x00"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := unpackEML(b); err == nil {
				t.Fatal("unpacked without an error")
			}
		})
	}
}

func FuzzPackEML(f *testing.F) {
	line := strings.Repeat("QUJD", 19)
	f.Add([]byte(line + "\r\n" + line + "\r\n"))
	f.Add(composedLike(300))
	f.Add([]byte("a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, eml []byte) {
		got, err := unpackEML(packEML(eml))
		if err != nil {
			t.Fatalf("unpack: %v", err)
		}
		if !bytes.Equal(got, eml) {
			t.Fatalf("unpacked %q, want %q", got, eml)
		}
		// Whatever is stored, unpacking does not panic.
		_, _ = unpackEML(append([]byte(packedMagic), eml...))
	})
}

func BenchmarkPackEML(b *testing.B) {
	eml := composedLike(100 << 10)
	b.Run("pack", func(b *testing.B) {
		b.SetBytes(int64(len(eml)))
		for b.Loop() {
			packEML(eml)
		}
	})
	p := packEML(eml)
	b.Run("unpack", func(b *testing.B) {
		b.SetBytes(int64(len(eml)))
		for b.Loop() {
			if _, err := unpackEML(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	// 20,000 lines of 76 characters, none base64: read once, each line
	// looked at with the next one only.
	qp := []byte(strings.Repeat(strings.Repeat("QUJD", 18)+"QUJ=\r\n", 20000))
	b.Run("quoted-printable", func(b *testing.B) {
		b.SetBytes(int64(len(qp)))
		for b.Loop() {
			packEML(qp)
		}
	})
}

// Lines of 76 characters that are not base64 (quoted-printable's soft
// breaks end them with "=") are kept as they are.
func TestPackEMLQuotedPrintable(t *testing.T) {
	qp := []byte(strings.Repeat(strings.Repeat("QUJD", 18)+"QUJ=\r\n", 2000))
	p := packEML(qp)
	if want := len(packedMagic) + 5 + len(qp); len(p) != want {
		t.Errorf("packed %d bytes of quoted-printable lines into %d, want them as one raw segment (%d)", len(qp), len(p), want)
	}
	got, err := unpackEML(p)
	if err != nil || !bytes.Equal(got, qp) {
		t.Fatalf("round trip of the quoted-printable lines: %v", err)
	}
}
