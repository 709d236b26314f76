package archive

import (
	"bytes"
	"context"
	"log/slog"

	"envoi"
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
