// Package filename makes the names of the files envoi attaches and archives:
// a document flow's pattern with [KEYWORD]s filled in, then cleaned so the
// name is safe on every system that will store it (Windows, macOS, Linux,
// a mail client, the archive) and cannot escape a directory.
package filename

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"envoi"

	"golang.org/x/text/unicode/norm"
)

// MaxBytes bounds a name, extension included, in bytes of UTF-8. File
// systems allow 255; mail clients and archive tools do worse with long
// names, and the ERP's keyword values are not ours to trust.
const MaxBytes = 150

// Fallback is the stem used when nothing of a name survives cleaning.
const Fallback = "document"

// maxExt is the longest extension Sanitize recognises and keeps when it
// shortens a name (".docx", ".xlsx" and the like fit easily).
const maxExt = 16

// Render fills pattern's [KEYWORD]s from values (keyword_missing naming
// every keyword without a value), cleans the result as Sanitize does and
// forces the extension ext ("pdf" or ".pdf"): a name ending in another
// extension keeps it as part of the stem and gets ext appended, so
// "x.exe" becomes "x.exe.pdf". An empty ext forces nothing.
func Render(pattern string, values map[string]string, ext string) (string, error) {
	name, err := envoi.Substitute(pattern, values, nil)
	if err != nil {
		return "", err
	}
	return clean(name, normExt(ext)), nil
}

// Sanitize cleans a name given by someone else (an ERP attachment): no path
// separators, no "..", no control or invisible formatting characters, none
// of the characters Windows forbids (<>:"|?*) nor its reserved device names
// (CON, NUL, COM1...), no spaces or dots at the ends, NFC-normalised, at
// most MaxBytes long cut on a character boundary with the extension kept,
// and never empty (Fallback). Separators and forbidden characters become
// '_'; line breaks and other control characters become a space.
func Sanitize(name string) string { return clean(name, "") }

// normExt turns "pdf", ".pdf" or "PDF" into ".pdf": ASCII letters and
// digits only, at most maxExt of them; "" when nothing is left.
func normExt(ext string) string {
	var b strings.Builder
	for _, c := range []byte(strings.ToLower(ext)) {
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	e := b.String()
	if len(e) > maxExt {
		e = e[:maxExt]
	}
	return "." + e
}

// clean does the work of Sanitize; forceExt, when not empty, is the
// extension (with its dot, already clean) the result must end with.
func clean(name, forceExt string) string {
	// Windows drops trailing dots and spaces: drop them before looking for
	// the extension, so cleaning a clean name changes nothing.
	s := strings.TrimRightFunc(mapRunes(name), isDotOrSpace)

	stem, ext := splitExt(s)
	if forceExt != "" {
		if !strings.EqualFold(ext, forceExt) {
			stem = s
		}
		ext = forceExt
	}

	stem = cleanStem(stem)
	if stem == "" {
		stem = Fallback
	}
	stem = cut(stem, MaxBytes-len(ext))
	if reserved(stem) {
		stem = cut("_"+stem, MaxBytes-len(ext))
	}
	if stem == "" {
		stem = Fallback
	}
	return stem + ext
}

// forbidden are the path separators, the characters Windows refuses in a
// name, and their look-alikes that Windows' best-fit conversion to a code
// page turns back into them (fullwidth forms, division and fraction slashes).
const forbidden = `/\<>:"|?*` + "\uFF0F\uFF3C\uFF1C\uFF1E\uFF1A\uFF02\uFF5C\uFF1F\uFF0A\u2215\u2044\u29F8"

// mapRunes normalises s to NFC and maps each character: invalid UTF-8 and
// the characters Windows or a path would misread become '_', control
// characters and runs of white space become one space, invisible
// formatting characters (bidi overrides such as U+202E, zero-width spaces,
// BOM) are dropped: they make "fdp.exe" read as "exe.pdf".
func mapRunes(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "_")
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case strings.ContainsRune(forbidden, r) || r == utf8.RuneError:
			r = '_'
		case unicode.IsControl(r) || unicode.IsSpace(r):
			r = ' '
		case !unicode.IsPrint(r):
			// Formatting (Cf), private use, unassigned: invisible or
			// unpredictable in a name.
			continue
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// splitExt splits s before its last dot when what follows is a short run
// of ASCII letters and digits (an extension); otherwise ext is "".
func splitExt(s string) (stem, ext string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 || len(s)-i-1 < 1 || len(s)-i-1 > maxExt {
		return s, ""
	}
	for _, c := range []byte(s[i+1:]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return s, ""
		}
	}
	return s[:i], s[i:]
}

// cleanStem folds runs of dots into one (no "..") and trims spaces and dots
// at both ends: Windows drops them silently, and a leading dot hides a file.
func cleanStem(s string) string {
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	return trimEnds(s)
}

func trimEnds(s string) string { return strings.TrimFunc(s, isDotOrSpace) }

func isDotOrSpace(r rune) bool { return r == '.' || unicode.IsSpace(r) }

// cut shortens s to at most n bytes on a character boundary and trims what
// the cut leaves at its end.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return trimEnds(s[:n])
}

// reserved reports whether Windows takes a file named s for a device: its
// part before the first dot, spaces trimmed, is CON, PRN, AUX, NUL, COM0-9
// or LPT0-9 (superscript digits included), in any case.
func reserved(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) < 4 || base[:3] != "COM" && base[:3] != "LPT" {
		return false
	}
	switch base[3:] {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}
