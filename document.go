package envoi

import "unicode/utf8"

// FileNameRequest asks for the name a document of a document flow gets
// when it is printed or exported (seed §4.2: the file-name override
// applies to mail, print and export alike): the name a send of the same
// context gives it. Company and Operator, when given, must exist, as in a
// send. Entity names the document when the flow has no rule
// ("BL_12345.pdf"). Extension is the document's ("pdf" when empty).
type FileNameRequest struct {
	DocumentFlow string            `json:"-"`
	Context      map[string]string `json:"context"`
	Company      string            `json:"company,omitempty"`
	Operator     string            `json:"operator,omitempty"`
	Entity       *Entity           `json:"entity,omitempty"`
	Extension    string            `json:"extension,omitempty"`
}

// Validate checks codes and the context's quotas (EInvalidInput naming
// the field), as SendRequest.Validate does.
func (r *FileNameRequest) Validate() error {
	if !ValidCode(r.DocumentFlow) {
		return FieldError(EInvalidInput, "document_flow", "%q is not a valid code", r.DocumentFlow)
	}
	if r.Company != "" && !ValidCode(r.Company) {
		return FieldError(EInvalidInput, "company", "%q is not a valid code", r.Company)
	}
	if r.Operator != "" && !ValidCode(r.Operator) {
		return FieldError(EInvalidInput, "operator", "%q is not a valid code", r.Operator)
	}
	if r.Entity != nil && (r.Entity.Type == "" || r.Entity.ID == "") {
		return FieldError(EInvalidInput, "entity", "an entity needs a type and an id")
	}
	return checkContext(r.Context)
}

// ArchiveRequest archives a document produced outside mail (printed or
// exported) with its business entity [stockage GED]: it is named by the
// document flow's file-name rule from Context (else Filename, else the
// flow and the entity) and filed as the rule's file type, its bytes as
// given.
type ArchiveRequest struct {
	DocumentFlow string            `json:"document_flow"`
	Entity       Entity            `json:"entity"`
	Context      map[string]string `json:"context"`
	Content      []byte            `json:"content_base64"`
	ContentType  string            `json:"content_type"`
	Filename     string            `json:"filename,omitempty"`
	Company      string            `json:"company,omitempty"`
	Operator     string            `json:"operator,omitempty"`
}

// Validate checks what can be checked without the store (EInvalidInput
// naming the field).
func (r *ArchiveRequest) Validate() error {
	if !ValidCode(r.DocumentFlow) {
		return FieldError(EInvalidInput, "document_flow", "%q is not a valid code", r.DocumentFlow)
	}
	if r.Entity.Type == "" || r.Entity.ID == "" {
		return FieldError(EInvalidInput, "entity", "an entity needs a type and an id")
	}
	if len(r.Content) == 0 {
		return FieldError(EInvalidInput, "content_base64", "the document is empty")
	}
	if len(r.ContentType)+len(r.Filename) > MaxHeaderBytes {
		return FieldError(EInvalidInput, "filename", "the file name and content type take over %d bytes", MaxHeaderBytes).
			WithDetail("limit_bytes", MaxHeaderBytes)
	}
	n := FileNameRequest{DocumentFlow: r.DocumentFlow, Context: r.Context, Company: r.Company, Operator: r.Operator}
	return n.Validate()
}

// checkContext refuses a context over MaxContextKeys or MaxKeywordValue.
func checkContext(c map[string]string) error {
	if len(c) > MaxContextKeys {
		return FieldError(EInvalidInput, "context", "%d keywords; the limit is %d", len(c), MaxContextKeys).
			WithDetail("limit", MaxContextKeys)
	}
	for k, v := range c {
		if n := utf8.RuneCountInString(k) + utf8.RuneCountInString(v); n > MaxKeywordValue {
			return FieldError(EInvalidInput, "context", "the value of %s is %d characters long; the limit is %d", k, n, MaxKeywordValue).
				WithDetail("keyword", k).WithDetail("limit", MaxKeywordValue)
		}
	}
	return nil
}
