// Package dsn reads the reports that come back to a sending mailbox about
// a message sent from it: delivery status notifications (RFC 3464, a
// bounce or a delay), message disposition notifications (RFC 8098, a read
// receipt), and the common bounces that follow neither (Microsoft's
// non-delivery reports with the original attached, Google's "Mail Delivery
// Subsystem" notices). It finds what the report says and the ids of the
// message it is about; matching them to a message is the caller's.
//
// Input is hostile: a report is read from at most MaxSize bytes (a longer
// one is read truncated, as a partial IMAP fetch gives it), in at most
// MaxParts MIME parts nested at most MaxDepth deep, and no field is kept
// beyond a few KB. Parse never panics.
package dsn

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// Limits on what Parse reads.
const (
	// MaxSize is the most of a message Parse reads; the rest is ignored,
	// as if the message had been fetched truncated.
	MaxSize = 512 << 10
	// MaxParts bounds the MIME parts looked at, MaxDepth their nesting.
	MaxParts = 64
	MaxDepth = 4
	// maxField bounds a kept value (diagnostic, recipient).
	maxField = 1000
	// maxIDs bounds the message ids collected from one report.
	maxIDs = 32
)

// What a report says of the message.
const (
	// KindFailed: a recipient will not get it (action failed).
	KindFailed = "failed"
	// KindDelayed: not delivered yet, still being tried (action delayed).
	KindDelayed = "delayed"
	// KindRead: the recipient displayed it (disposition displayed).
	KindRead = "read"
)

// Formats a report was recognised in.
const (
	FormatDSN       = "rfc3464"
	FormatMDN       = "rfc8098"
	FormatMicrosoft = "microsoft_ndr"
	FormatGoogle    = "google_dsn"
)

// ErrNotReport is Parse's error for a message that is no report.
var ErrNotReport = errors.New("dsn: not a delivery or disposition report")

// Report is what a report says about one message.
type Report struct {
	Kind   string
	Format string
	// Recipient is the address the report is about (Final-Recipient,
	// else Original-Recipient, X-Failed-Recipients or the text), "" when
	// it names none.
	Recipient string
	// Status is the enhanced status code (RFC 3463), e.g. "5.1.1".
	Status string
	// Diagnostic is the remote server's reply (Diagnostic-Code without
	// its type) or, for a read receipt, the disposition.
	Diagnostic string
	// At is when the report says it happened (Last-Attempt-Date,
	// Arrival-Date, the report's Date), zero when it says nothing.
	At time.Time
	// EnvoiIDs are the values of the private header (envoi.HeaderMessageID)
	// found in the returned original; MessageIDs the Message-IDs it names
	// (the original's Message-ID, References, In-Reply-To,
	// X-Microsoft-Original-Message-ID, the MDN's Original-Message-ID),
	// angle brackets included, each once.
	EnvoiIDs   []string
	MessageIDs []string
}

// Header fields read to decide whether a message may be a report, for a
// fetch of the header alone (see Candidate).
var CandidateFields = []string{"Content-Type", "From", "Subject", "X-Failed-Recipients", "Auto-Submitted"}

var (
	daemonFrom     = regexp.MustCompile(`(?i)(mailer-daemon|postmaster|mail delivery (subsystem|system)|microsoftexchange[0-9a-f]*@)`)
	bounceSubject  = regexp.MustCompile(`(?i)(undeliverable|undelivered|delivery status notification|delivery (has )?failed|mail delivery failed|returned mail|failure notice|non-?delivery|delivery delayed|delayed mail)`)
	delaySubject   = regexp.MustCompile(`(?i)(delay|\(delay\)|delivery incomplete|still being retried|not yet been delivered)`)
	statusCode     = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	smtpReply      = regexp.MustCompile(`\b([245]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3})?[^\r\n]*`)
	addrInText     = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?){1,10}`)
	envoiIDInText  = regexp.MustCompile(`(?im)^X-Envoi-Message-Id:[ \t]*(msg_[a-z0-9]{1,40})`)
	msgIDInText    = regexp.MustCompile(`(?im)^(?:Message-ID|References|In-Reply-To|X-Microsoft-Original-Message-ID):[ \t]*(<[^<>\s]{3,250}>)`)
	idInHeader     = regexp.MustCompile(`<[^<>\s]{3,250}>`)
	envoiIDPattern = regexp.MustCompile(`^msg_[a-z0-9]{1,40}$`)
)

// Candidate reports whether a message with header h may be a report,
// to fetch its body only then: a multipart/report, or mail from a
// mailer daemon or with a bounce's subject.
func Candidate(h mail.Header) bool {
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "multipart/report" {
		return true
	}
	if h.Get("X-Failed-Recipients") != "" {
		return true
	}
	return daemonFrom.MatchString(h.Get("From")) || bounceSubject.MatchString(h.Get("Subject"))
}

// Parse reads one message (at most MaxSize bytes of r) and returns the
// report it is, ErrNotReport when it is none, or an error reading r.
// A report that names no id of a message is still returned (EnvoiIDs and
// MessageIDs empty): the caller cannot match it.
func Parse(r io.Reader) (*Report, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSize))
	if err != nil {
		return nil, err
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, ErrNotReport
	}
	p := &parser{}
	p.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return p.report(msg.Header)
}

// parser collects what the parts of a message say.
type parser struct {
	parts      int
	reportType string // report-type of the first multipart/report
	dsn        []fields
	dsnMessage fields
	mdn        fields
	text       strings.Builder // human-readable text parts, bounded
	original   []textproto.MIMEHeader
	envoiIDs   []string
	messageIDs []string
}

const maxText = 64 << 10

// walk visits a part: multiparts recursively, the report's parts by type.
func (p *parser) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	if p.parts++; p.parts > MaxParts || depth > MaxDepth {
		return
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		if mt == "multipart/report" && p.reportType == "" {
			p.reportType = strings.ToLower(params["report-type"])
		}
		b := params["boundary"]
		if b == "" || len(b) > 200 {
			return
		}
		mr := multipart.NewReader(body, b)
		for p.parts <= MaxParts {
			part, err := mr.NextRawPart()
			if err != nil {
				return // the end, or a truncated message: keep what was read
			}
			p.walk(part.Header, part, depth+1)
		}
		return
	}
	data, _ := io.ReadAll(io.LimitReader(decode(h, body), MaxSize))
	switch mt {
	case "message/delivery-status", "message/global-delivery-status":
		blocks := readBlocks(data)
		if len(blocks) > 0 && p.dsnMessage == nil {
			p.dsnMessage = blocks[0]
			p.dsn = append(p.dsn, blocks[1:]...)
		}
	case "message/disposition-notification", "message/global-disposition-notification":
		if blocks := readBlocks(data); len(blocks) > 0 && p.mdn == nil {
			p.mdn = blocks[0]
		}
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
		// Only its header is read: the original's own parts are no report.
		p.returned(data)
	case "text/plain", "text/html":
		if p.text.Len() < maxText {
			s := string(data[:min(len(data), 4*maxText)])
			if mt == "text/html" {
				s = stripTags(s)
			}
			p.text.WriteString(s[:min(len(s), maxText-p.text.Len())])
			p.text.WriteString("\n")
		}
	}
}

// returned reads the header of a returned original (message/rfc822 or
// text/rfc822-headers).
func (p *parser) returned(data []byte) {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	if len(head) == len(data) {
		head, _, _ = bytes.Cut(data, []byte("\n\n"))
	}
	tr := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n\r\n"))))
	h, err := tr.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return
	}
	p.original = append(p.original, h)
	p.idsFrom(h)
}

// idsFrom collects the ids of the original in header h.
func (p *parser) idsFrom(h textproto.MIMEHeader) {
	for _, v := range h.Values("X-Envoi-Message-Id") {
		p.addEnvoiID(strings.TrimSpace(v))
	}
	for _, k := range []string{"Message-Id", "X-Microsoft-Original-Message-Id", "References", "In-Reply-To"} {
		for _, v := range h.Values(k) {
			for _, id := range idInHeader.FindAllString(v, maxIDs) {
				p.addMessageID(id)
			}
		}
	}
}

func (p *parser) addEnvoiID(id string) {
	if envoiIDPattern.MatchString(id) && len(p.envoiIDs) < maxIDs && !contains(p.envoiIDs, id) {
		p.envoiIDs = append(p.envoiIDs, id)
	}
}

func (p *parser) addMessageID(id string) {
	if len(p.messageIDs) < maxIDs && !contains(p.messageIDs, id) {
		p.messageIDs = append(p.messageIDs, id)
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// report makes the Report of what was read; top is the message's header.
func (p *parser) report(top mail.Header) (*Report, error) {
	r := &Report{}
	switch {
	case p.mdn != nil:
		r.Format = FormatMDN
		disp := p.mdn.get("Disposition")
		// "manual-action/MDN-sent-manually; displayed", modifiers after '/'.
		_, typ, _ := strings.Cut(disp, ";")
		typ, _, _ = strings.Cut(strings.TrimSpace(typ), "/")
		if !strings.EqualFold(strings.TrimSpace(typ), "displayed") {
			return nil, ErrNotReport // processed, deleted, dispatched: not a read
		}
		r.Kind = KindRead
		r.Recipient = address(p.mdn.get("Final-Recipient"))
		if r.Recipient == "" {
			r.Recipient = address(p.mdn.get("Original-Recipient"))
		}
		r.Diagnostic = clip(strings.TrimSpace(disp))
		for _, id := range idInHeader.FindAllString(p.mdn.get("Original-Message-Id"), maxIDs) {
			p.addMessageID(id)
		}
		r.At = date(top.Get("Date"))
	case len(p.dsn) > 0:
		r.Format = FormatDSN
		// A failed recipient first, else a delayed one; delivered,
		// relayed and expanded are no news.
		var pick fields
		for _, want := range []string{"failed", "delayed"} {
			for _, b := range p.dsn {
				if strings.EqualFold(strings.TrimSpace(b.get("Action")), want) {
					pick = b
					break
				}
			}
			if pick != nil {
				break
			}
		}
		if pick == nil {
			return nil, ErrNotReport
		}
		r.Kind = KindFailed
		if strings.EqualFold(strings.TrimSpace(pick.get("Action")), "delayed") {
			r.Kind = KindDelayed
		}
		r.Recipient = address(pick.get("Final-Recipient"))
		if r.Recipient == "" {
			r.Recipient = address(pick.get("Original-Recipient"))
		}
		r.Status = statusCode.FindString(pick.get("Status"))
		r.Diagnostic = clip(typed(pick.get("Diagnostic-Code")))
		for _, d := range []string{pick.get("Last-Attempt-Date"), p.dsnMessage.get("Arrival-Date"), top.Get("Date")} {
			if r.At = date(d); !r.At.IsZero() {
				break
			}
		}
	default:
		if !p.nonStandard(top, r) {
			return nil, ErrNotReport
		}
	}
	// The report's own References and In-Reply-To (some MDNs and bounces
	// carry the original's id there), then ids quoted in the text (the
	// non-standard formats quote the original's header).
	for _, k := range []string{"References", "In-Reply-To"} {
		for _, id := range idInHeader.FindAllString(top.Get(k), maxIDs) {
			p.addMessageID(id)
		}
	}
	text := p.text.String()
	for _, m := range envoiIDInText.FindAllStringSubmatch(text, maxIDs) {
		p.addEnvoiID(m[1])
	}
	for _, m := range msgIDInText.FindAllStringSubmatch(text, maxIDs) {
		p.addMessageID(m[1])
	}
	r.EnvoiIDs, r.MessageIDs = p.envoiIDs, p.messageIDs
	if r.Recipient != "" && !strings.Contains(r.Recipient, "@") {
		r.Recipient = ""
	}
	return r, nil
}

// nonStandard recognises Microsoft's and Google's bounces that are no
// multipart/report: from a mailer daemon or with a bounce's subject, with
// an enhanced status code or an SMTP reply in the text.
func (p *parser) nonStandard(top mail.Header, r *Report) bool {
	from, subject := top.Get("From"), decodeWords(top.Get("Subject"))
	// A person's mail ("Re: Undeliverable ...") is no bounce: the subject
	// counts only on a message an automaton says it sent.
	auto := strings.ToLower(strings.TrimSpace(top.Get("Auto-Submitted")))
	automatic := auto != "" && auto != "no" || top.Get("X-MS-Exchange-Message-Is-Ndr") != ""
	if !daemonFrom.MatchString(from) && top.Get("X-Failed-Recipients") == "" && !(automatic && bounceSubject.MatchString(subject)) {
		return false
	}
	text := p.text.String()
	switch {
	case strings.Contains(strings.ToLower(from), "microsoft") || strings.Contains(text, "Remote Server returned") ||
		strings.Contains(text, "Diagnostic information for administrators") || top.Get("X-MS-Exchange-Message-Is-Ndr") != "":
		r.Format = FormatMicrosoft
	case strings.Contains(strings.ToLower(from), "google") || strings.Contains(text, "The response from the remote server was") ||
		strings.Contains(strings.ToLower(from), "mail delivery subsystem"):
		r.Format = FormatGoogle
	default:
		r.Format = FormatGoogle // the same reading serves other daemons
	}
	// The diagnostic: Microsoft's "Remote Server returned '550 5.1.1 ...'",
	// Google's line after "The response from the remote server was:",
	// else the first SMTP reply in the text.
	diag := ""
	if _, after, ok := strings.Cut(text, "Remote Server returned '"); ok {
		diag, _, _ = strings.Cut(after, "'")
	} else if _, after, ok := strings.Cut(text, "The response from the remote server was:"); ok {
		diag = firstLine(after)
	} else if m := smtpReply.FindString(text); m != "" {
		diag = m
	}
	r.Diagnostic = clip(strings.TrimSpace(diag))
	r.Status = statusCode.FindString(r.Diagnostic)
	if r.Status == "" {
		r.Status = statusCode.FindString(text)
	}
	switch {
	case strings.HasPrefix(r.Status, "4.") || delaySubject.MatchString(subject) && !strings.HasPrefix(r.Status, "5."):
		r.Kind = KindDelayed
	case strings.HasPrefix(r.Status, "5.") || r.Diagnostic != "" || top.Get("X-Failed-Recipients") != "":
		r.Kind = KindFailed
	default:
		return false // a daemon's mail that says nothing we read
	}
	if v := top.Get("X-Failed-Recipients"); v != "" {
		r.Recipient = address(strings.Split(v, ",")[0])
	}
	if r.Recipient == "" {
		own := strings.ToLower(address(from))
		for _, a := range addrInText.FindAllString(text, 50) {
			if la := strings.ToLower(a); la != own && !daemonFrom.MatchString(la) {
				r.Recipient = a
				break
			}
		}
	}
	r.At = date(top.Get("Date"))
	return true
}

// fields is one block of a delivery-status or disposition-notification
// body: field names in canonical form, the first value of each.
type fields map[string]string

func (f fields) get(k string) string { return f[textproto.CanonicalMIMEHeaderKey(k)] }

// readBlocks reads the blocks of fields separated by empty lines
// (RFC 3464 2.1, RFC 8098 3.1), continuation lines unfolded. Comments
// and malformed lines are skipped; at most MaxParts blocks.
func readBlocks(data []byte) []fields {
	var out []fields
	cur := fields{}
	last := ""
	flush := func() {
		if len(cur) > 0 && len(out) < MaxParts {
			out = append(out, cur)
		}
		cur, last = fields{}, ""
	}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			if v := cur[last]; len(v) < maxField {
				cur[last] = v + " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		last = textproto.CanonicalMIMEHeaderKey(k)
		if _, seen := cur[last]; !seen && len(cur) < 64 {
			cur[last] = strings.TrimSpace(v)
		} else {
			last = ""
		}
	}
	flush()
	return out
}

// decode undoes a part's Content-Transfer-Encoding.
func decode(h textproto.MIMEHeader, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return body
}

// newlineStripper drops CR, LF, spaces and tabs, which base64 bodies have
// between lines.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// address returns the address of a recipient field ("rfc822;
// a@b.example", "a@b.example", "<a@b.example>").
func address(v string) string {
	if typ, rest, ok := strings.Cut(v, ";"); ok && !strings.Contains(typ, "@") {
		v = rest
	}
	v = strings.TrimSpace(v)
	if a, err := mail.ParseAddress(v); err == nil {
		return clip(a.Address)
	}
	v = strings.Trim(v, "<> \t")
	if strings.ContainsAny(v, " \t<>\"") {
		if m := addrInText.FindString(v); m != "" {
			return clip(m)
		}
		return ""
	}
	return clip(v)
}

// typed returns a Diagnostic-Code's text without its type ("smtp; 550 ...").
func typed(v string) string {
	if typ, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(typ, " \t") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}

func date(v string) time.Time {
	t, err := mail.ParseDate(strings.TrimSpace(v))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			return l
		}
	}
	return ""
}

// clip bounds a kept value to maxField bytes, at a rune boundary.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}

func decodeWords(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// stripTags turns an HTML part into rough text, enough to find a status
// code and a reply in it: tags dropped (a line break for those that break
// a line), the common entities decoded. Linear in the length of s.
func stripTags(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break // an unclosed tag to the end
		}
		name := strings.ToLower(strings.TrimLeft(s[i+1:i+j], "/"))
		if strings.HasPrefix(name, "br") || strings.HasPrefix(name, "p") || strings.HasPrefix(name, "div") || strings.HasPrefix(name, "tr") {
			b.WriteByte('\n')
		}
		s = s[i+j+1:]
	}
	return strings.NewReplacer("&#39;", "'", "&quot;", "\"", "&lt;", "<", "&gt;", ">", "&nbsp;", " ", "&amp;", "&").Replace(b.String())
}
