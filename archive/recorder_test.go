package archive_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"envoi"
	"envoi/archive"
	"envoi/secret"
	"envoi/sqlstore"
)

// sentMail builds a message as compose writes one: multipart/mixed with a
// multipart/alternative body first, then pdf (base64, 76-column lines)
// when not nil; and the delivery record's location of that PDF in it (nil
// without one).
func sentMail(tb testing.TB, pdfName string, pdf []byte) ([]byte, *envoi.DeliveryDocument) {
	tb.Helper()
	var body bytes.Buffer
	mixed := multipart.NewWriter(&body)
	var alt bytes.Buffer
	aw := multipart.NewWriter(&alt)
	w, _ := aw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	io.WriteString(w, "Bonjour,\r\nveuillez trouver le document.\r\n")
	aw.Close()
	w, _ = mixed.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/alternative; boundary=" + aw.Boundary()}})
	w.Write(alt.Bytes())
	if pdf != nil {
		w, _ = mixed.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {"application/pdf"},
			"Content-Transfer-Encoding": {"base64"},
			"Content-Disposition":       {`attachment; filename="` + pdfName + `"`},
		})
		enc := base64.StdEncoding.EncodeToString(pdf)
		for len(enc) > 76 {
			io.WriteString(w, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(w, enc+"\r\n")
	}
	mixed.Close()
	eml := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: BL\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=" + mixed.Boundary() + "\r\n\r\n" + body.String())
	if pdf == nil {
		return eml, nil
	}
	// The base64 as written above: 76-column lines, the line breaks
	// included in the location but not the last one.
	var lines []string
	for enc := base64.StdEncoding.EncodeToString(pdf); enc != ""; enc = enc[min(76, len(enc)):] {
		lines = append(lines, enc[:min(76, len(enc))])
	}
	wrapped := strings.Join(lines, "\r\n")
	at := bytes.Index(eml, []byte(wrapped))
	if at < 0 {
		tb.Fatal("sentMail: the PDF's base64 is not in the message")
	}
	return eml, &envoi.DeliveryDocument{Name: pdfName, ContentType: "application/pdf", Size: int64(len(pdf)), At: int64(at), Encoded: int64(len(wrapped))}
}

func mustOpenRecorder(tb testing.TB) (*archive.Recorder, *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: tb.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return &archive.Recorder{Files: MustOpenStore(tb), Records: store}, store
}

func TestRecorderSent(t *testing.T) {
	ctx := context.Background()
	pdf := bytes.Repeat([]byte("%PDF-1.7 bon de livraison\n"), 40) // several base64 lines
	entity := &envoi.Entity{Type: "delivery_note", ID: "BL-12345"}
	msg := func(e *envoi.Entity) *envoi.Message {
		return &envoi.Message{ID: "msg_testBL", Request: envoi.SendRequest{DocumentFlow: "BL", Entity: e}}
	}
	withPDF, doc := sentMail(t, "BL-12345.pdf", pdf)
	withoutPDF, _ := sentMail(t, "", nil)
	misplaced := *doc
	misplaced.At -= 10 // not where the base64 is: the record and the bytes disagree
	for _, tc := range []struct {
		name      string
		m         *envoi.Message
		d         *envoi.Delivery
		wantFiles []string // file names archived, sorted
	}{
		{"OK", msg(entity), &envoi.Delivery{Archive: true, FileType: "BL", Document: doc, Content: withPDF}, []string{"BL-12345.pdf", "msg_testBL.eml"}},
		{"NoDocument", msg(entity), &envoi.Delivery{Archive: true, FileType: "BL", Content: withoutPDF}, []string{"msg_testBL.eml"}},
		{"ArchiveOff", msg(entity), &envoi.Delivery{FileType: "BL", Document: doc, Content: withPDF}, nil},
		{"NoDelivery", msg(entity), nil, nil},
		{"NoEntity", msg(nil), &envoi.Delivery{Archive: true, FileType: "BL", Document: doc, Content: withPDF}, nil},
		{"ErrMisplacedDocument", msg(entity), &envoi.Delivery{Archive: true, FileType: "BL", Document: &misplaced, Content: withPDF}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, store := mustOpenRecorder(t)
			rec.Sent(ctx, tc.m, tc.d)
			docs, err := store.ArchivedDocuments(ctx, entity.Type, entity.ID)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range docs {
				names = append(names, d.FileName)
			}
			slices.Sort(names) // listed by creation time, which both may share
			if got, want := strings.Join(names, ","), strings.Join(tc.wantFiles, ","); got != want {
				t.Fatalf("archived files: got %q, want %q", got, want)
			}
			for _, d := range docs {
				want := tc.d.Content
				if d.FileName == "BL-12345.pdf" {
					want = pdf
					if d.ContentType != "application/pdf" || d.FileType != "BL" {
						t.Errorf("PDF recorded as %q, file type %q: want application/pdf, BL", d.ContentType, d.FileType)
					}
				}
				rc, err := rec.Files.Open(ctx, d.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: stored bytes differ from the sent ones (err %v)", d.FileName, err)
				}
			}
		})
	}
}
