package archive

import (
	"bytes"
	"context"
	"log/slog"
	"mime"
	"strings"

	"envoi"
	"envoi/filename"
)

// Records is what a Recorder needs from the store: a place for the
// metadata of each archived file (sqlstore.Store implements it).
type Records interface {
	PutArchivedDocument(ctx context.Context, d *envoi.ArchivedDocument) error
}

// Recorder archives what was sent: once a message with a business entity
// is sent, and its delivery record says acceptance decided to archive it
// (the file-name rule's Archive), the document it carried and the message
// itself (.eml) are stored in Files and recorded with the entity in
// Records. Files and Records are required; Logger defaults to
// slog.Default().
type Recorder struct {
	Files   *Store
	Records Records
	Logger  *slog.Logger
	// Names names the documents Archive files (compose.Composer); Archive
	// needs it, Sent and Record do not.
	Names Namer
}

// Namer names a document of a document flow by its file-name rule, as a
// send names it, and returns the rule (nil when the flow has none);
// compose.Composer implements it.
type Namer interface {
	FileName(ctx context.Context, req *envoi.FileNameRequest) (string, *envoi.FileNameRule, error)
}

func (r *Recorder) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Sent archives m once it is sent as d says, d.Content being the bytes
// sent; its signature is queue.Worker's OnSent. The document is the one
// the delivery record located in those bytes (a record made before
// documents were located has none: only the .eml is kept). A failure is
// logged, not returned: the message was sent and stays sent.
func (r *Recorder) Sent(ctx context.Context, m *envoi.Message, d *envoi.Delivery) {
	if m.Request.Entity == nil || d == nil || !d.Archive {
		return
	}
	var doc *envoi.Attachment
	var err error
	if dd := d.Document; dd != nil {
		var b []byte
		if b, err = dd.Bytes(d.Content); err == nil {
			doc = &envoi.Attachment{Filename: dd.Name, ContentType: dd.ContentType, Content: b}
		}
	}
	if err == nil {
		err = r.Record(ctx, m, d.FileType, doc, d.Content)
	}
	if err != nil {
		r.logger().Error("archiving a sent document failed", "message", m.ID, "err", err)
	}
}

// Record stores doc (nil when the message carried none) and eml with m's
// business entity, the document filed as fileType (the file-name rule's).
// It is the part of Sent for a caller that has the document in hand. It
// returns the first error of the files or of the store.
func (r *Recorder) Record(ctx context.Context, m *envoi.Message, fileType string, doc *envoi.Attachment, eml []byte) error {
	if m.Request.Entity == nil {
		return envoi.Errorf(envoi.EInvalidInput, "archive: message %s has no business entity", m.ID)
	}
	put := func(name, contentType string, b []byte) error {
		sha, size, err := r.Files.Put(ctx, bytes.NewReader(b))
		if err != nil {
			return err
		}
		return r.Records.PutArchivedDocument(ctx, &envoi.ArchivedDocument{
			EntityType: m.Request.Entity.Type, EntityID: m.Request.Entity.ID, DocumentFlow: m.Request.DocumentFlow,
			MessageID: m.ID, FileName: name, FileType: fileType, ContentType: contentType, Size: size, SHA256: sha,
		})
	}
	if doc != nil {
		ct := doc.ContentType
		if ct == "" {
			ct = "application/pdf"
		}
		if err := put(doc.Filename, ct, doc.Content); err != nil {
			return err
		}
	}
	return put(m.ID+".eml", "message/rfc822", eml)
}

// Archive stores a document produced outside mail (printed or exported)
// with its business entity, and returns its archive entry: named by the
// document flow's file-name rule from req's context (as a send names it),
// or, when the flow has no pattern, by req.Filename, else by the flow and
// the entity; filed as the rule's file type; its bytes as given. Errors
// are those of req.Validate, of Names (an unknown flow is ENotFound, a
// keyword without a value EKeywordMissing) and of the files and records.
func (r *Recorder) Archive(ctx context.Context, req *envoi.ArchiveRequest) (*envoi.ArchivedDocument, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if r.Names == nil {
		return nil, envoi.Errorf(envoi.EUnavailable, "archive: no file-name rules to name the document by")
	}
	given := ""
	if req.Filename != "" {
		given = req.Filename
		if i := strings.LastIndexAny(given, `/\`); i >= 0 {
			given = given[i+1:]
		}
		given = filename.Sanitize(given)
	}
	ct := req.ContentType
	if mt, params, err := mime.ParseMediaType(ct); err == nil && strings.Contains(mt, "/") {
		ct = mime.FormatMediaType(mt, params)
	} else {
		ct = ""
	}
	if ct == "" {
		ct = "application/pdf"
	}
	name, rule, err := r.Names.FileName(ctx, &envoi.FileNameRequest{
		DocumentFlow: req.DocumentFlow, Context: req.Context, Company: req.Company, Operator: req.Operator,
		Entity: &req.Entity, Extension: extension(given, ct),
	})
	if err != nil {
		return nil, err
	}
	if (rule == nil || strings.TrimSpace(rule.Pattern) == "") && given != "" {
		name = given
	}
	d := &envoi.ArchivedDocument{EntityType: req.Entity.Type, EntityID: req.Entity.ID, DocumentFlow: req.DocumentFlow,
		FileName: name, ContentType: ct}
	if rule != nil {
		d.FileType = rule.FileType
	}
	if d.SHA256, d.Size, err = r.Files.Put(ctx, bytes.NewReader(req.Content)); err != nil {
		return nil, err
	}
	if err := r.Records.PutArchivedDocument(ctx, d); err != nil {
		return nil, err
	}
	r.logger().Info("archived a document produced outside mail", "id", d.ID, "document_flow", d.DocumentFlow,
		"entity_type", d.EntityType, "entity_id", d.EntityID, "size", d.Size)
	return d, nil
}

// extension is the extension of a document of type contentType named
// given: "pdf" for a PDF, else given's own, else one of a few known types.
func extension(given, contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/pdf" {
		return "pdf"
	}
	if i := strings.LastIndexByte(given, '.'); i >= 0 {
		return given[i+1:]
	}
	return extByType[mt]
}

// extByType is a fixed table rather than mime.ExtensionsByType, whose
// answers depend on the machine's mime.types.
var extByType = map[string]string{
	"text/csv":         "csv",
	"text/plain":       "txt",
	"application/xml":  "xml",
	"application/json": "json",
	"application/zip":  "zip",
	"image/png":        "png",
	"image/jpeg":       "jpg",
	"image/tiff":       "tif",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       "xlsx",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"application/vnd.oasis.opendocument.spreadsheet":                          "ods",
	"application/vnd.oasis.opendocument.text":                                 "odt",
}
