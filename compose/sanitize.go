package compose

import (
	"html"
	"strings"
	"unicode"
)

// An operator's signature is HTML written by an administrator. It is kept
// as HTML, but what could run code in a mail client or a webmail is taken
// out: script-like elements with their content, forms, event handler
// attributes (on*), and URLs whose scheme is not http, https, mailto, tel or
// cid (javascript:, vbscript:, data: except inline images). This is a
// minimal guard, not a general HTML sanitiser: tags are rebuilt from what
// the tokenizer below understood, so anything it did not is dropped.

// dropWithContent are elements removed with everything inside them.
var dropWithContent = map[string]bool{
	"script": true, "style": true, "iframe": true, "frame": true, "frameset": true,
	"object": true, "embed": true, "applet": true, "noscript": true, "noembed": true,
	"noframes": true, "template": true, "xmp": true, "plaintext": true, "title": true,
	"textarea": true, "select": true, "svg": true, "math": true, "head": true,
}

// dropTag are elements removed while their content is kept.
var dropTag = map[string]bool{
	"html": true, "body": true, "meta": true, "link": true, "base": true, "form": true,
	"input": true, "button": true, "option": true, "param": true, "source": true,
	"track": true, "audio": true, "video": true, "portal": true,
}

// urlAttrs are attributes whose value is a URL.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "background": true, "cite": true,
	"longdesc": true, "poster": true, "lowsrc": true, "dynsrc": true, "usemap": true,
	"xlink:href": true, "data": true, "codebase": true, "profile": true,
}

type tokenKind int

const (
	textToken tokenKind = iota
	startToken
	endToken
)

type attr struct {
	name, value string
	hasValue    bool
}

type token struct {
	kind  tokenKind
	name  string // lower case, tags only
	attrs []attr
	text  string // raw HTML text, textToken only
}

// tokenize calls fn with each text run and tag of s. Comments, doctypes and
// processing instructions are skipped; elements of dropWithContent are
// skipped with their content; a '<' that starts no tag is text ("&lt;").
func tokenize(s string, fn func(token)) {
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			fn(token{kind: textToken, text: s})
			return
		}
		if i > 0 {
			fn(token{kind: textToken, text: s[:i]})
			s = s[i:]
		}
		switch {
		case strings.HasPrefix(s, "<!--"):
			end := strings.Index(s[4:], "-->")
			if end < 0 {
				return
			}
			s = s[4+end+3:]
			continue
		case strings.HasPrefix(s, "<!") || strings.HasPrefix(s, "<?"):
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return
			}
			s = s[end+1:]
			continue
		}
		tok, rest, ok := parseTag(s)
		if !ok {
			fn(token{kind: textToken, text: "&lt;"})
			s = s[1:]
			continue
		}
		s = rest
		if tok.kind == startToken && dropWithContent[tok.name] {
			s = skipElement(s, tok.name)
			continue
		}
		if tok.kind == endToken && dropWithContent[tok.name] {
			continue
		}
		fn(tok)
	}
}

// parseTag parses the tag s starts with. ok is false when s does not start
// a tag ('<' not followed by a letter or "/" and a letter); a tag without
// its '>' swallows the rest of s.
func parseTag(s string) (tok token, rest string, ok bool) {
	i := 1
	tok.kind = startToken
	if i < len(s) && s[i] == '/' {
		tok.kind = endToken
		i++
	}
	j := i
	for j < len(s) && (isLetter(s[j]) || (j > i && (isDigit(s[j]) || s[j] == '-' || s[j] == ':'))) {
		j++
	}
	if j == i {
		return token{}, s, false
	}
	tok.name = strings.ToLower(s[i:j])
	i = j
	for {
		for i < len(s) && (isSpace(s[i]) || s[i] == '/') {
			i++
		}
		if i >= len(s) {
			return tok, "", true
		}
		if s[i] == '>' {
			return tok, s[i+1:], true
		}
		j = i
		for j < len(s) && !isSpace(s[j]) && s[j] != '/' && s[j] != '>' && (s[j] != '=' || j == i) {
			j++
		}
		a := attr{name: strings.ToLower(s[i:j])}
		i = j
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			a.hasValue = true
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				end := strings.IndexByte(s[i+1:], q)
				if end < 0 {
					return tok, "", true
				}
				a.value = s[i+1 : i+1+end]
				i += end + 2
			} else {
				j = i
				for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
					j++
				}
				a.value = s[i:j]
				i = j
			}
		}
		tok.attrs = append(tok.attrs, a)
	}
}

// skipElement returns s after the end tag of name, or "" when it has none.
func skipElement(s, name string) string {
	lower := strings.ToLower(s)
	for from := 0; ; {
		k := strings.Index(lower[from:], "</"+name)
		if k < 0 {
			return ""
		}
		k += from
		after := k + 2 + len(name)
		if after == len(s) || isSpace(s[after]) || s[after] == '>' || s[after] == '/' {
			end := strings.IndexByte(s[after:], '>')
			if end < 0 {
				return ""
			}
			return s[after+end+1:]
		}
		from = after
	}
}

// sanitizeHTML returns s with what could run code taken out (see above).
func sanitizeHTML(s string) string {
	var b strings.Builder
	tokenize(s, func(t token) {
		switch t.kind {
		case textToken:
			b.WriteString(t.text)
		case endToken:
			if !dropTag[t.name] {
				b.WriteString("</" + t.name + ">")
			}
		case startToken:
			if dropTag[t.name] {
				return
			}
			b.WriteString("<" + t.name)
			for _, a := range t.attrs {
				if !safeAttr(t.name, a) {
					continue
				}
				b.WriteString(" " + a.name)
				if a.hasValue {
					b.WriteString(`="` + html.EscapeString(html.UnescapeString(a.value)) + `"`)
				}
			}
			b.WriteString(">")
		}
	})
	return b.String()
}

// safeAttr reports whether attribute a of element tag may stay.
func safeAttr(tag string, a attr) bool {
	if !validAttrName(a.name) || strings.HasPrefix(a.name, "on") {
		return false
	}
	switch a.name {
	case "formaction", "srcdoc", "srcset", "http-equiv":
		return false
	case "style":
		v := strings.ToLower(compact(html.UnescapeString(a.value)))
		for _, bad := range []string{"expression(", "javascript:", "vbscript:", "behavior:", "-moz-binding", "url(", "@import"} {
			if strings.Contains(v, bad) {
				return false
			}
		}
		return true
	}
	if urlAttrs[a.name] {
		return safeURL(tag, a.name, html.UnescapeString(a.value))
	}
	return true
}

// safeURL reports whether u may stay in attribute name of element tag:
// relative, or http, https, mailto, tel, cid, or an inline image.
func safeURL(tag, name, u string) bool {
	u = strings.ToLower(compact(u))
	colon := strings.IndexByte(u, ':')
	if colon < 0 || strings.IndexAny(u[:colon], "/?#") >= 0 {
		return true // relative
	}
	switch u[:colon] {
	case "http", "https", "mailto", "tel", "cid":
		return true
	case "data":
		return tag == "img" && name == "src" && (strings.HasPrefix(u, "data:image/png") ||
			strings.HasPrefix(u, "data:image/jpeg") || strings.HasPrefix(u, "data:image/gif") ||
			strings.HasPrefix(u, "data:image/webp"))
	}
	return false
}

// compact removes the white space and control characters browsers ignore
// inside a URL scheme ("java\tscript:").
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func validAttrName(n string) bool {
	if n == "" || !isLetter(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' && c != ':' && c != '.' {
			return false
		}
	}
	return true
}

// blockTags end a line when a signature is turned into text.
var blockTags = map[string]bool{
	"br": true, "p": true, "div": true, "tr": true, "li": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"ul": true, "ol": true, "blockquote": true, "hr": true,
}

// htmlToText returns the text of an HTML fragment for the plain
// alternative: tags removed, entities decoded, block elements on their own
// lines, runs of spaces folded.
func htmlToText(s string) string {
	var b strings.Builder
	tokenize(s, func(t token) {
		switch t.kind {
		case textToken:
			space := false
			for _, r := range html.UnescapeString(t.text) {
				if unicode.IsSpace(r) {
					space = true
					continue
				}
				if space {
					b.WriteByte(' ')
					space = false
				}
				b.WriteRune(r)
			}
			if space {
				b.WriteByte(' ')
			}
		default:
			if blockTags[t.name] {
				b.WriteByte('\n')
			}
		}
	})
	var lines []string
	blank := true
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			if !blank {
				lines = append(lines, "")
			}
			blank = true
			continue
		}
		lines = append(lines, l)
		blank = false
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
