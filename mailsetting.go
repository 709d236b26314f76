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
type MailSetting struct {
	DocumentFlow string    `json:"document_flow"`
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
	if len(s.Subject) > 998 {
		return FieldError(EInvalidInput, "subject", "the subject is longer than 998 characters")
	}
	if err := flow.CheckKeywords(map[string]string{"subject": s.Subject, "body": s.Body}); err != nil {
		return err
	}
	if strings.TrimSpace(s.Subject) == "" {
		return FieldError(EInvalidInput, "subject", "the subject is empty: every mail of this document flow would go out without one")
	}
	return nil
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
