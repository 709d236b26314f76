package compose

import (
	"html"
	"strings"

	"envoi"
	"envoi/signature"
)

// body is the text of a mail in its two alternatives, and the inline logo
// the HTML one shows (nil when none).
type body struct {
	plain string
	html  string
	logo  *file
}

// buildBody assembles the mail's text, in this order: the mail setting's
// body (keywords already filled: plain as is, htmlText already escaped),
// the operator's footer text, then the signature.
//
// The signature follows SPEC.md's precedence: an operator's signature
// (SignatureHTML), when defined, takes precedence over the company's and
// the flow's; the company's — its footer text and its logo, sent inline
// and shown through a cid: reference — over the flow's, which is whatever
// closing the mail setting's body already has. So with an operator
// signature the company's footer and logo are left out.
//
// The plain alternative is derived from the same content; the HTML one
// keeps line breaks as <br>. logoCID is the Content-ID (without brackets)
// given to the company's logo.
func buildBody(plainText, htmlText string, op *envoi.Operator, company *envoi.Company, logoCID string) body {
	var plain, rich []string
	add := func(p, h, class string) {
		if strings.TrimSpace(p) == "" && strings.TrimSpace(h) == "" {
			return
		}
		plain = append(plain, strings.TrimRight(p, " \t\n"))
		rich = append(rich, `<div class="`+class+`">`+h+"</div>")
	}

	add(plainText, textToHTML(htmlText, false), "envoi-body")
	add(cleanText(op.FooterText), textToHTML(cleanText(op.FooterText), true), "envoi-operator-footer")

	var b body
	switch {
	case strings.TrimSpace(op.SignatureHTML) != "":
		// Sanitized when saved, and again here: a signature stored before
		// the policy, or written to the database directly, goes out safe.
		sig := signature.Sanitize(op.SignatureHTML)
		add(signature.Text(sig), sig, "envoi-signature")
	case company != nil:
		add(cleanText(company.FooterText), textToHTML(cleanText(company.FooterText), true), "envoi-company-footer")
		if len(company.Logo) > 0 {
			ext := ".png"
			if company.LogoType == "image/jpeg" {
				ext = ".jpg"
			}
			ct := company.LogoType
			if ct == "" {
				ct = "image/png"
			}
			b.logo = &file{name: "logo" + ext, contentType: ct, content: company.Logo, contentID: logoCID}
			rich = append(rich, `<div class="envoi-logo"><img src="cid:`+html.EscapeString(logoCID)+
				`" alt="`+html.EscapeString(envoi.CleanHeader(company.Name))+`"></div>`)
		}
	}

	b.plain = strings.Join(plain, "\n\n") + "\n"
	b.html = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n</head>\n<body>\n" +
		strings.Join(rich, "\n") + "\n</body>\n</html>\n"
	return b
}

// textToHTML turns text (lines ending in \n) into HTML keeping its line
// breaks as <br>; escape says whether s still needs escaping.
func textToHTML(s string, escape bool) string {
	s = strings.TrimRight(s, " \t\n")
	if escape {
		s = html.EscapeString(s)
	}
	return strings.ReplaceAll(s, "\n", "<br>\n")
}
