package envoi

import (
	"strings"
	"time"
)

// Priorities of a mail setting.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
)

// MailSetting is how the mail of one document flow reads
// [paramétrage des envois mail]: subject and body with [KEYWORD]s, priority,
// read receipt, and copy to sender (Bcc the sender: a trace for basic SMTP;
// the provider keeps the sent copy with OAuth).
//
// A mail setting may have variants for a company and/or a language
// (Company, Language set): the mail of a request for that company, in that
// language, reads as the variant says. MailSettingChoices is the order
// they are tried in.
type MailSetting struct {
	DocumentFlow string    `json:"document_flow"`
	Company      string    `json:"company,omitempty"`
	Language     string    `json:"language,omitempty"`
	Subject      string    `json:"subject"`
	Body         string    `json:"body"`
	Priority     string    `json:"priority"`
	ReadReceipt  bool      `json:"read_receipt"`
	CopyToSender bool      `json:"copy_to_sender"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Validate checks s against its document flow: the priority, and that every
// keyword used is one the flow declares (EUnknownKeyword naming it).
func (s *MailSetting) Validate(flow *DocumentFlow) error {
	if s.Priority == "" {
		s.Priority = PriorityNormal
	}
	switch s.Priority {
	case PriorityLow, PriorityNormal, PriorityHigh:
	default:
		return FieldError(EInvalidInput, "priority", "%q is not low, normal or high", s.Priority)
	}
	if s.Language != "" {
		l, err := MailLanguage(s.Language)
		if err != nil {
			return err
		}
		s.Language = l
	}
	if len(s.Subject) > 998 {
		return FieldError(EInvalidInput, "subject", "the subject is longer than 998 characters")
	}
	return flow.CheckKeywords(map[string]string{"subject": s.Subject, "body": s.Body})
}

// CheckSubject refuses to save a setting without a subject: every mail
// of its document flow would go out without one. (A preview of a setting
// being written may have none yet.)
func (s *MailSetting) CheckSubject() error {
	if strings.TrimSpace(s.Subject) == "" {
		return FieldError(EInvalidInput, "subject", "the subject is empty: every mail of this document flow would go out without one")
	}
	return nil
}

// IsVariant reports whether s is a variant rather than its flow's default.
func (s *MailSetting) IsVariant() bool { return s.Company != "" || s.Language != "" }

// MailLanguage returns the language a mail setting variant is chosen by
// for tag, a BCP 47 language tag (fr, fr-CH, es-419, de): its primary
// language subtag in lower case, so that "fr-CH" picks the variant "fr".
// Any language may have a variant, not only those envoi speaks: the text
// is the administrator's. EInvalidInput (field language) when tag is not a
// language tag.
func MailLanguage(tag string) (string, error) {
	primary, rest, more := strings.Cut(strings.TrimSpace(tag), "-")
	ok := len(primary) >= 2 && len(primary) <= 3 && isLetters(primary)
	if more {
		for sub := range strings.SplitSeq(rest, "-") {
			if len(sub) < 1 || len(sub) > 8 || !isAlnum(sub) {
				ok = false
			}
		}
	}
	if !ok {
		return "", FieldError(EInvalidInput, "language", "%q is not a language tag (BCP 47: fr, fr-CH, es, de...)", tag)
	}
	return strings.ToLower(primary), nil
}

func isLetters(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// MailSettingChoices returns the (company, language) pairs of the mail
// setting variants tried for a request of company in language, most
// specific first: both, the company alone, the language alone, then the
// default ("", ""). Pairs that would repeat one tried already are left out.
func MailSettingChoices(company, language string) [][2]string {
	var out [][2]string
	add := func(c, l string) {
		p := [2]string{c, l}
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	if company != "" && language != "" {
		add(company, language)
	}
	if company != "" {
		add(company, "")
	}
	if language != "" {
		add("", language)
	}
	add("", "")
	return out
}

// FileNameRule names the document generated for a document flow, for mail,
// print and export alike [surcharge nom du fichier], and says whether the
// sent document is archived with the business entity [stockage GED].
type FileNameRule struct {
	DocumentFlow string    `json:"document_flow"`
	Pattern      string    `json:"pattern"`
	Archive      bool      `json:"archive"`
	FileType     string    `json:"file_type"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Validate checks r against its document flow's keywords.
func (r *FileNameRule) Validate(flow *DocumentFlow) error {
	if len(r.Pattern) > 255 {
		return FieldError(EInvalidInput, "pattern", "the pattern is longer than 255 characters")
	}
	return flow.CheckKeywords(map[string]string{"pattern": r.Pattern})
}
