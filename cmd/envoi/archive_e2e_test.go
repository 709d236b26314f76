package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/archive"
)

type archivedJSON struct {
	ID          string `json:"id"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
}

// sendArchived sends the delivery note 12345 with its rendered PDF through
// e, the file-name rule asking for the archive, and returns the message.
func sendArchived(t *testing.T, e *Env) messageJSON {
	t.Helper()
	e.MustDo(200, "PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL]_[SOCIETE]", "archive": true, "file_type": "delivery_note"}, nil)
	req := blRequest("client@example.org")
	req["report"] = map[string]any{"template": "delivery_note", "data": deliveryNoteData()}
	var m messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", req, &m)
	if m.Status != "sent" {
		t.Fatalf("message: %s", fmtJSON(m))
	}
	return m
}

// waitArchived lists the entity BL 12345's archive on e until it holds n
// documents.
func waitArchived(t *testing.T, e *Env, n int) []archivedJSON {
	t.Helper()
	var docs []archivedJSON
	for deadline := time.Now().Add(10 * time.Second); len(docs) < n && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e.MustDo(200, "GET", "/v1/archive?entity_type=BL&entity_id=12345", nil, &docs)
	}
	if len(docs) != n {
		t.Fatalf("archived documents: %s, want %d\n%s", fmtJSON(docs), n, e.Logs())
	}
	return docs
}

// download gets an archived document's bytes from e.
func download(t *testing.T, e *Env, id string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.Base+"/v1/archive/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestArchiveAcrossInstances: two envoi serve on one database. The
// document one of them archived is listed and read, bytes intact, from the
// other: on PostgreSQL each instance has a data directory of its own and
// the bytes are in the database; on SQLite both share the data directory.
// On PostgreSQL, bytes changed in the database are refused with
// archive_checksum_mismatch.
func TestArchiveAcrossInstances(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			a := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			a.Configure()
			if status, page := a.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			m := sendArchived(t, a)
			waitArchived(t, a, 2)
			// b starts once a has sent and archived: b's workers never
			// touched the message.
			b := MustStart(t, EnvOptions{Shared: a})
			docs := waitArchived(t, b, 2)
			for _, d := range docs {
				status, got := download(t, b, d.ID)
				sum := sha256.Sum256(got)
				if status != 200 || hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(got)) != d.Size {
					t.Errorf("%s read from the other instance: %d, %d bytes (want %d, sha %s)\n%s", d.FileName, status, len(got), d.Size, d.SHA256, got)
				}
				if d.ContentType == "application/pdf" && !bytes.HasPrefix(got, []byte("%PDF-")) {
					t.Errorf("the archived PDF read from b is not a PDF")
				}
				if d.ContentType == "message/rfc822" && !strings.Contains(string(got), m.MessageID) {
					t.Errorf("the archived .eml read from b is not the message sent")
				}
			}
			if db == "sqlite" {
				return
			}
			for _, dir := range []string{a.DataDir, b.DataDir} {
				if n := countFiles(t, filepath.Join(dir, "archive")); n != 0 {
					t.Errorf("%d archived files in %s, want none on PostgreSQL", n, dir)
				}
			}
			store := openStore(t, a)
			if _, err := store.DB().Exec(`UPDATE archive_blobs SET content = 'changed' WHERE sha256 = $1`, docs[0].SHA256); err != nil {
				t.Fatal(err)
			}
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if status := b.Do("GET", "/v1/archive/"+docs[0].ID, nil, &e); status == 200 || e.Error.Code != envoi.EArchiveChecksumMismatch {
				t.Errorf("read of changed bytes: %d %s, want %s", status, fmtJSON(e), envoi.EArchiveChecksumMismatch)
			}
		})
	}
}

func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestArchiveImportOnStart: a PostgreSQL install whose earlier version
// kept its archive in files under the data directory. envoi serve moves
// them into the database when it starts; another instance then reads the
// document, and the files are gone from the disk.
func TestArchiveImportOnStart(t *testing.T) {
	dbURL := freshPostgres(t)
	first := MustStart(t, EnvOptions{DatabaseURL: dbURL})
	first.Stop()

	// What an earlier version left: a file under archive/, and its record.
	doc := []byte("%PDF-1.7 printed before the upgrade")
	old := &archive.Store{Root: filepath.Join(first.DataDir, "archive")}
	sha, size, err := old.Put(context.Background(), bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t, first)
	d := &envoi.ArchivedDocument{EntityType: "BL", EntityID: "12345", FileName: "BL_12345.pdf", ContentType: "application/pdf", Size: size, SHA256: sha}
	if err := store.PutArchivedDocument(context.Background(), d); err != nil {
		t.Fatal(err)
	}

	other := MustStart(t, EnvOptions{Shared: first})
	if status, _ := download(t, other, d.ID); status != 404 {
		t.Fatalf("before the import, another instance reads %d, want 404 (the bytes are only on the first's disk)", status)
	}
	// The first instance starts again on its data directory.
	MustStart(t, EnvOptions{Shared: first, Args: []string{"--data-dir", first.DataDir}})
	status, got := download(t, other, d.ID)
	if status != 200 || !bytes.Equal(got, doc) {
		t.Fatalf("after the first instance restarted: %d %q, want the document", status, got)
	}
	if n := countFiles(t, filepath.Join(first.DataDir, "archive")); n != 0 {
		t.Errorf("%d files left under archive/, want none", n)
	}
}

// TestBodyRetention: envoi serve with --body-retention removes the body
// of a message sent longer ago: GET /v1/messages/{id}/eml answers 410
// message_body_pruned, while the message, its outcome and its archived
// documents stay.
func TestBodyRetention(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL, Args: []string{"--body-retention", "2s"}})
			e.Configure()
			if status, page := e.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			m := sendArchived(t, e)
			docs := waitArchived(t, e, 2)

			var body struct {
				Error struct {
					Code, Remedy string
				} `json:"error"`
			}
			status := 0
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if status = e.Do("GET", "/v1/messages/"+m.ID+"/eml", nil, nil); status != 200 {
					break
				}
			}
			status = e.Do("GET", "/v1/messages/"+m.ID+"/eml", nil, &body)
			if status != http.StatusGone || body.Error.Code != envoi.EMessageBodyPruned || body.Error.Remedy == "" {
				t.Fatalf("GET eml of an old message: %d %s, want 410 %s\n%s", status, fmtJSON(body), envoi.EMessageBodyPruned, e.Logs())
			}
			var after messageJSON
			e.MustDo(200, "GET", "/v1/messages/"+m.ID, nil, &after)
			if after.Status != "sent" || after.MessageID != m.MessageID {
				t.Errorf("message after pruning: %s, want still sent", fmtJSON(after))
			}
			for _, d := range waitArchived(t, e, len(docs)) {
				if status, got := download(t, e, d.ID); status != 200 || int64(len(got)) != d.Size {
					t.Errorf("archived %s after pruning: %d, %d bytes", d.FileName, status, len(got))
				}
			}
		})
	}
}
