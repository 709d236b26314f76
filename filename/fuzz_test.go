package filename_test

import (
	"strings"
	"testing"

	"envoi/filename"
)

// FuzzSanitize checks the properties of a cleaned name for any input: it is
// never empty, within MaxBytes, free of separators, "..", control and format
// characters, stable when cleaned again, and keeps an ASCII extension; a
// rendered name always ends with the forced extension. The seed corpus is
// under testdata/fuzz/FuzzSanitize; run with
// go test -run '^$' -fuzz FuzzSanitize ./filename/
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"BL_12345_FORTERRO.pdf", "../../etc/passwd", "CON", "a\r\nb", "\u202Efdp.exe", "...."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := filename.Sanitize(in)
		checkSafe(t, in, got)
		if again := filename.Sanitize(got); again != got {
			t.Errorf("Sanitize(%q) = %q, but Sanitize(%q) = %q", in, got, got, again)
		}
		if ext := asciiExt(in); ext != "" && !strings.HasSuffix(got, ext) {
			t.Errorf("Sanitize(%q) = %q lost the extension %q", in, got, ext)
		}

		rendered, err := filename.Render("BL_[ID_BL]", map[string]string{"ID_BL": in}, "pdf")
		if err != nil {
			t.Fatalf("Render with value %q: %v", in, err)
		}
		checkSafe(t, in, rendered)
		if !strings.HasSuffix(rendered, ".pdf") {
			t.Errorf("Render with value %q = %q, want the .pdf extension", in, rendered)
		}
	})
}

// asciiExt returns the extension in ends with when it is a dot and 1 to 16
// ASCII letters or digits, else "".
func asciiExt(in string) string {
	i := strings.LastIndexByte(in, '.')
	if i < 0 || len(in)-i-1 < 1 || len(in)-i-1 > 16 {
		return ""
	}
	for _, c := range []byte(in[i+1:]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	return in[i:]
}
