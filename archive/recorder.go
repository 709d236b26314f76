package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"

	"envoi"
)

// Records is what a Recorder needs from the store: the document flow's
// file-name rule, which says whether to archive, and a place for the
// metadata of each archived file (sqlstore.Store implements it).
type Records interface {
	FileNameRule(ctx context.Context, documentFlow string) (*envoi.FileNameRule, error)
	PutArchivedDocument(ctx context.Context, d *envoi.ArchivedDocument) error
}

// Recorder archives what was sent: once a message with a business entity
// is sent, and its document flow's file-name rule asks for it, the
// document it carried and the message itself (.eml) are stored in Files
// and recorded with the entity in Records. Files and Records are
// required; Logger defaults to slog.Default().
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

// Sent archives m once it is sent, eml being the bytes sent; its signature
// is queue.Worker's OnSent. The document is the first PDF attached (the
// report comes first). A failure is logged, not returned: the message was
// sent and stays sent.
func (r *Recorder) Sent(ctx context.Context, m *envoi.Message, eml []byte) {
	if m.Request.Entity == nil {
		return
	}
	rule, err := r.Records.FileNameRule(ctx, m.Request.DocumentFlow)
	if err != nil || !rule.Archive {
		return
	}
	doc, err := FirstPDF(eml)
	if err == nil {
		err = r.Record(ctx, m, rule.FileType, doc, eml)
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

// FirstPDF returns the first PDF attached to a message (RFC 5322 bytes),
// decoded, or nil when there is none. It fails only when the message or
// one of its parts cannot be read.
func FirstPDF(eml []byte) (*envoi.Attachment, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		return nil, fmt.Errorf("archive: parse: %w", err)
	}
	return findPDF(msg.Header.Get("Content-Type"), msg.Body)
}

func findPDF(contentType string, body io.Reader) (*envoi.Attachment, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil, nil
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("archive: parse: %w", err)
		}
		pt := part.Header.Get("Content-Type")
		if strings.HasPrefix(pt, "multipart/") {
			if doc, err := findPDF(pt, part); doc != nil || err != nil {
				return doc, err
			}
			continue
		}
		if ptype, _, _ := mime.ParseMediaType(pt); ptype == "application/pdf" {
			b, err := io.ReadAll(part) // multipart decodes quoted-printable only
			if err != nil {
				return nil, fmt.Errorf("archive: parse: %w", err)
			}
			if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
				if b, err = decodeBase64(b); err != nil {
					return nil, fmt.Errorf("archive: parse: %w", err)
				}
			}
			return &envoi.Attachment{Filename: part.FileName(), ContentType: "application/pdf", Content: b}, nil
		}
	}
}

// decodeBase64 decodes a part's base64 body, split in lines.
func decodeBase64(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	return out[:n], err
}
