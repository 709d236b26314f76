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

// buildBody assembles the mail's text as SPEC.md and the seed (§4.1)
// stack it, in this order:
//
//  1. the mail setting's body (keywords already filled: plain as is,
//     htmlText already escaped), whatever closing it has being the flow's;
//  2. the operator's footer text;
//  3. the company's footer text;
//  4. exactly one signature: the operator's SignatureHTML when defined,
//     else the company's (a signature takes precedence over the lower
//     levels' signatures, never over their footer texts);
//  5. the company's logo, sent inline and shown through a cid: reference,
//     when the company has one.
//
// Signatures are sanitized when saved and again here: one stored before
// the policy, or written to the database directly, goes out safe. The
// plain alternative is derived from the same content; the HTML one keeps
// line breaks as <br>. logoCID is the Content-ID (without brackets) given
// to the company's logo.
func buildBody(plainText, htmlText string, op *envoi.Operator, company *envoi.Company, logoCID string) body {
	var plain, rich []string
	add := func(p, h, class string) {
		if strings.TrimSpace(p) == "" && strings.TrimSpace(h) == "" {
			return
		}
		plain = append(plain, strings.TrimRight(p, " \t\n"))
		rich = append(rich, `<div class="`+class+`">`+h+"</div>")
	}
	footer := func(text, class string) {
		t := cleanText(text)
		add(t, textToHTML(t, true), class)
	}

	add(plainText, textToHTML(htmlText, false), "envoi-body")
	footer(op.FooterText, "envoi-operator-footer")
	if company != nil {
		footer(company.FooterText, "envoi-company-footer")
	}
	switch {
	case strings.TrimSpace(op.SignatureHTML) != "":
		sig := signature.Sanitize(op.SignatureHTML)
		add(signature.Text(sig), sig, "envoi-signature")
	case company != nil && strings.TrimSpace(company.SignatureHTML) != "":
		sig := signature.Sanitize(company.SignatureHTML)
		add(signature.Text(sig), sig, "envoi-signature")
	}

	var b body
	if company != nil && len(company.Logo) > 0 {
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
