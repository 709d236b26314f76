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
// when not nil.
func sentMail(tb testing.TB, pdfName string, pdf []byte) []byte {
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
	return []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: BL\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=" + mixed.Boundary() + "\r\n\r\n" + body.String())
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
	msg := func(flow string, e *envoi.Entity) *envoi.Message {
		return &envoi.Message{ID: "msg_test" + flow, Request: envoi.SendRequest{DocumentFlow: flow, Entity: e}}
	}
	for _, tc := range []struct {
		name      string
		rule      *envoi.FileNameRule
		m         *envoi.Message
		eml       []byte
		wantFiles []string // file names archived, sorted
	}{
		{"OK", &envoi.FileNameRule{DocumentFlow: "BL", Archive: true, FileType: "BL"}, msg("BL", entity), sentMail(t, "BL-12345.pdf", pdf), []string{"BL-12345.pdf", "msg_testBL.eml"}},
		{"NoPDF", &envoi.FileNameRule{DocumentFlow: "BL", Archive: true}, msg("BL", entity), sentMail(t, "", nil), []string{"msg_testBL.eml"}},
		{"ArchiveOff", &envoi.FileNameRule{DocumentFlow: "BL"}, msg("BL", entity), sentMail(t, "BL-12345.pdf", pdf), nil},
		{"NoRule", nil, msg("BL", entity), sentMail(t, "BL-12345.pdf", pdf), nil},
		{"NoEntity", &envoi.FileNameRule{DocumentFlow: "BL", Archive: true}, msg("BL", nil), sentMail(t, "BL-12345.pdf", pdf), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, store := mustOpenRecorder(t)
			if tc.rule != nil {
				if err := store.PutFileNameRule(ctx, tc.rule); err != nil {
					t.Fatal(err)
				}
			}
			rec.Sent(ctx, tc.m, tc.eml)
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
				want := tc.eml
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

func TestFirstPDF(t *testing.T) {
	t.Run("NotMultipart", func(t *testing.T) {
		doc, err := archive.FirstPDF([]byte("Subject: x\r\nContent-Type: text/plain\r\n\r\nhello\r\n"))
		if err != nil || doc != nil {
			t.Fatalf("got %v, %v; want no document, no error", doc, err)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		if _, err := archive.FirstPDF([]byte("no header line at all")); err == nil {
			t.Fatal("want an error for bytes that are not a message")
		}
	})
}
