package filename_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"envoi"
	"envoi/filename"

	"golang.org/x/text/unicode/norm"
)

func TestRender(t *testing.T) {
	values := map[string]string{"ID_BL": "12345", "SOCIETE": "FORTERRO"}
	tests := []struct {
		name    string
		pattern string
		values  map[string]string
		ext     string
		want    string
	}{
		{"OK", "BL_[ID_BL]_[SOCIETE].pdf", values, "pdf", "BL_12345_FORTERRO.pdf"},
		{"ExtensionAdded", "BL_[ID_BL]", values, ".pdf", "BL_12345.pdf"},
		{"ExtensionCaseFolded", "BL_[ID_BL].PDF", values, "pdf", "BL_12345.pdf"},
		{"OtherExtensionKeptInStem", "BL_[ID_BL].exe", values, "pdf", "BL_12345.exe.pdf"},
		{"NoForcedExtension", "BL_[ID_BL].txt", values, "", "BL_12345.txt"},
		{"ValueWithSlashes", "BL_[ID_BL].pdf", map[string]string{"ID_BL": "2025/03/001"}, "pdf", "BL_2025_03_001.pdf"},
		{"ValueTraversal", "[ID_BL].pdf", map[string]string{"ID_BL": "../../etc/passwd"}, "pdf", "_._etc_passwd.pdf"},
		{"ValueHeaderInjection", "BL [ID_BL].pdf", map[string]string{"ID_BL": "1\r\nBcc: x@y.z"}, "pdf", "BL 1 Bcc_ x@y.z.pdf"},
		{"EmptyValue", "[ID_BL].pdf", map[string]string{"ID_BL": ""}, "pdf", "document.pdf"},
		{"ReservedAfterSubstitution", "[ID_BL].pdf", map[string]string{"ID_BL": "con"}, "pdf", "_con.pdf"},
		{"BracketsNotKeyword", "BL [draft].pdf", values, "pdf", "BL [draft].pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filename.Render(tt.pattern, tt.values, tt.ext)
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.pattern, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestRenderMissingKeyword(t *testing.T) {
	_, err := filename.Render("BL_[ID_BL]_[SOCIETE]_[DATE].pdf", map[string]string{"ID_BL": "1"}, "pdf")
	if got, want := envoi.ErrorCode(err), envoi.EKeywordMissing; got != want {
		t.Fatalf("code = %q, want %q (%v)", got, want, err)
	}
	e := envoi.AsError(err)
	got, _ := e.Details["keywords"].([]string)
	if strings.Join(got, ",") != "SOCIETE,DATE" {
		t.Errorf("keywords = %v, want [SOCIETE DATE]", got)
	}
}

func TestSanitize(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf" // 400 bytes of stem
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"Plain", "Facture 2025-001.pdf", "Facture 2025-001.pdf"},
		{"Traversal", "../../etc/passwd", "_._etc_passwd"},
		{"WindowsTraversal", `..\..\Windows\win.ini`, "_._Windows_win.ini"},
		{"AbsolutePath", "/etc/shadow", "_etc_shadow"},
		{"DriveLetter", `C:\Users\x\doc.pdf`, "C__Users_x_doc.pdf"},
		{"UNC", `\\server\share\a.pdf`, "__server_share_a.pdf"},
		{"CRLF", "a\r\nb.pdf", "a b.pdf"},
		{"NUL", "a\x00b.pdf", "a b.pdf"},
		{"Tab", "a\tb.pdf", "a b.pdf"},
		{"DEL and C1", "a\x7fb\u0085c.pdf", "a b c.pdf"},
		{"RTLOverride", "invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"ZeroWidth", "in\u200Bvoice\uFEFF.pdf", "invoice.pdf"},
		{"WindowsForbidden", `a<b>c:d"e|f?g*h.pdf`, "a_b_c_d_e_f_g_h.pdf"},
		{"FullwidthSolidus", "a\uFF0Fb\uFF3Cc.pdf", "a_b_c.pdf"},
		{"OnlyDots", "....", "document"},
		{"DotDot", "..", "document"},
		{"Dot", ".", "document"},
		{"Empty", "", "document"},
		{"OnlySpaces", "   ", "document"},
		{"OnlyExtension", ".pdf", "document.pdf"},
		{"HiddenFile", ".bashrc", "document.bashrc"},
		{"TrailingDotsAndSpaces", "  report . . ", "report"},
		{"TrailingDotBeforeExt", "report..pdf", "report.pdf"},
		{"InnerDots", "a...b.pdf", "a.b.pdf"},
		{"ReservedCON", "CON", "_CON"},
		{"ReservedWithExt", "nul.pdf", "_nul.pdf"},
		{"ReservedCOM1", "com1.txt", "_com1.txt"},
		{"ReservedLPT9Spaces", "LPT9 .pdf", "_LPT9.pdf"},
		{"ReservedSuperscript", "COM¹.pdf", "_COM¹.pdf"},
		{"NotReserved", "CONTRACT.pdf", "CONTRACT.pdf"},
		{"NotReservedCOM10", "COM10.pdf", "COM10.pdf"},
		{"Emoji", "📦 livraison 🚚.pdf", "📦 livraison 🚚.pdf"},
		{"NFC", "Cafe\u0301.pdf", "Caf\u00e9.pdf"},
		{"InvalidUTF8", "a\xffb.pdf", "a_b.pdf"},
		{"ManySpaces", "a     b.pdf", "a b.pdf"},
		{"NoBreakSpace", "a\u00a0b.pdf", "a b.pdf"},
		{"LongKeepsExtension", long, strings.Repeat("é", 73) + ".pdf"},
		{"LongNoExtension", strings.Repeat("a", 300), strings.Repeat("a", filename.MaxBytes)},
		{"LongExtensionNotAnExtension", "a." + strings.Repeat("b", 40), "a." + strings.Repeat("b", 40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filename.Sanitize(tt.in)
			if got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkSafe(t, tt.in, got)
			if again := filename.Sanitize(got); again != got {
				t.Errorf("Sanitize is not idempotent: Sanitize(%q) = %q", got, again)
			}
		})
	}
}

func TestRenderLongKeepsForcedExtension(t *testing.T) {
	got, err := filename.Render("BL_[ID_BL].pdf", map[string]string{"ID_BL": strings.Repeat("ñ", 500)}, "pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got, ".pdf") || len(got) > filename.MaxBytes || !utf8.ValidString(got) {
		t.Errorf("Render = %q (%d bytes), want a valid name ending in .pdf within %d bytes", got, len(got), filename.MaxBytes)
	}
	if want := "BL_" + strings.Repeat("ñ", (filename.MaxBytes-len("BL_.pdf"))/2) + ".pdf"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

// checkSafe asserts the properties every cleaned name has, whatever the input.
func checkSafe(t *testing.T, in, got string) {
	t.Helper()
	if got == "" {
		t.Fatalf("Sanitize(%q) is empty", in)
	}
	if len(got) > filename.MaxBytes {
		t.Errorf("Sanitize(%q) = %d bytes, over %d", in, len(got), filename.MaxBytes)
	}
	if !utf8.ValidString(got) {
		t.Errorf("Sanitize(%q) = %q is not valid UTF-8", in, got)
	}
	if strings.ContainsAny(got, "/\\<>:\"|?*") {
		t.Errorf("Sanitize(%q) = %q contains a separator or a character Windows forbids", in, got)
	}
	if strings.Contains(got, "..") {
		t.Errorf("Sanitize(%q) = %q contains ..", in, got)
	}
	for _, r := range got {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("Sanitize(%q) = %q contains control or format character %U", in, got, r)
		}
	}
	if strings.TrimFunc(got, func(r rune) bool { return r == '.' || unicode.IsSpace(r) }) != got {
		t.Errorf("Sanitize(%q) = %q starts or ends with a dot or a space", in, got)
	}
	if !norm.NFC.IsNormalString(got) {
		t.Errorf("Sanitize(%q) = %q is not NFC", in, got)
	}
}
