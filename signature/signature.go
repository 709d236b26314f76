// Package signature makes an operator's HTML signature safe to send and
// to show: an allow-list of the formatting a mail signature needs, applied
// with bluemonday when the store saves a signature (cmd/envoi gives
// Sanitize to sqlstore as Options.SanitizeHTML, one rule for the API, the
// UI and envoi apply) and again when a mail is composed; and the
// signature's text for the plain alternative.
//
// Allowed: text formatting (b, i, u, strong, em, small, big, sub, sup,
// s, font with color, face and size), blocks (p, br, div, span, hr,
// blockquote, ul, ol, li, h1 to h6), tables with their layout attributes,
// links to http, https, mailto and tel, and images from https, cid: (a
// part of the mail) or data: PNG, JPEG or GIF. Inline style keeps only the
// properties of styleProperties, each value checked by bluemonday's
// handler for it, and none with a backslash escape, url(, expression(,
// a comment or an at-rule: no position, no background image, no overlay.
// Everything else (script, style and iframe with their content, forms,
// event handlers, other URL schemes, classes and ids) is removed.
package signature

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/microcosm-cc/bluemonday"
	"github.com/microcosm-cc/bluemonday/css"
	"golang.org/x/net/html"
)

// styleProperties are the inline style properties kept.
var styleProperties = []string{
	"color", "background-color", "font-family", "font-size", "font-weight", "font-style", "font-variant",
	"text-decoration", "text-align", "text-transform", "vertical-align", "line-height", "letter-spacing",
	"white-space", "width", "height", "max-width", "min-width",
	"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
	"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
	"border", "border-top", "border-right", "border-bottom", "border-left",
	"border-color", "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
}

// imageSource is the src an image may have.
var imageSource = regexp.MustCompile(`^(?i:https:|cid:|data:image/(png|jpeg|gif);base64,)`)

// dataImage is a data: URL of a PNG, JPEG or GIF image, base64.
var dataImage = regexp.MustCompile(`^image/(png|jpeg|gif);base64,[A-Za-z0-9+/]+=*$`)

var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("b", "i", "u", "s", "strong", "em", "small", "big", "sub", "sup", "span", "div", "p", "br",
		"hr", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
		"table", "thead", "tbody", "tfoot", "tr", "td", "th", "font", "center")
	p.AllowAttrs("align", "dir", "lang", "title").Globally()
	p.AllowAttrs("color", "face", "size").OnElements("font")
	p.AllowAttrs("width", "height", "border", "cellpadding", "cellspacing", "bgcolor", "valign").
		Matching(regexp.MustCompile(`^[#A-Za-z0-9.%-]{1,32}$`)).OnElements("table", "tr", "td", "th", "img")
	p.AllowAttrs("colspan", "rowspan").Matching(bluemonday.Integer).OnElements("td", "th")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("alt").OnElements("img")
	// An image loads when the mail is read: not over plain http.
	p.AllowAttrs("src").Matching(imageSource).OnElements("img")
	p.AllowURLSchemes("http", "https", "mailto", "tel")
	p.AllowURLSchemeWithCustomPolicy("cid", func(*url.URL) bool { return true })
	p.AllowURLSchemeWithCustomPolicy("data", func(u *url.URL) bool { return dataImage.MatchString(u.Opaque) })
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	for _, prop := range styleProperties {
		check := css.GetDefaultHandler(prop)
		p.AllowStyles(prop).MatchingHandler(func(v string) bool { return plainCSS(v) && check(v) }).Globally()
	}
	return p
})

// plainCSS reports whether a style value (escapes already decoded by
// bluemonday) is free of what could load or run anything, or hide one
// property behind another.
func plainCSS(v string) bool {
	v = strings.ToLower(v)
	if strings.ContainsAny(v, `\@;{}<>`) || strings.Contains(v, "/*") {
		return false
	}
	for _, bad := range []string{"url", "expression", "image", "javascript", "var(", "attr(", "calc(", "env("} {
		if strings.Contains(v, bad) {
			return false
		}
	}
	return true
}

// Sanitize returns s with only what the policy allows. It is idempotent:
// a signature sanitized when saved comes out the same when sent.
func Sanitize(s string) string { return policy().Sanitize(s) }

// blockTags end a line when a signature is turned into text.
var blockTags = map[string]bool{
	"br": true, "p": true, "div": true, "tr": true, "li": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"ul": true, "ol": true, "blockquote": true, "hr": true,
}

// Text returns the text of an HTML fragment for a plain-text alternative:
// tags removed, entities decoded, block elements on lines of their own,
// runs of white space made one space, at most one blank line in a row.
// The content of script and style elements is not text.
func Text(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			if skip > 0 {
				continue
			}
			space := false
			for _, r := range string(z.Text()) {
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
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if blockTags[string(name)] {
				b.WriteByte('\n')
			}
		}
	}
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
