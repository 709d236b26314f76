package main_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/secret"
	"envoi/sqlstore"
	"envoi/ui"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// openStore opens a second handle on the store of a running envoi.
func openStore(t *testing.T, e *Env) *sqlstore.Store {
	t.Helper()
	o := sqlstore.Options{DataDir: e.DataDir}
	var err error
	if e.DBURL != "" {
		o.DatabaseURL = e.DBURL
		o.MasterKey, err = secret.ParseMasterKey(testMasterKey)
	} else {
		o.MasterKey, err = secret.LoadMasterKey("", e.DataDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecoveryMailNotReadable: the password recovery mail carries a live
// link that signs its holder in. Asked through the real /forgot page and
// sent through the queue, it reaches the user; but the holder of the ERP's
// API key finds it in no listing, cannot read it nor its .eml, and once it
// is sent the link is nowhere in the database, the spool, the data
// directory or the logs.
func TestRecoveryMailNotReadable(t *testing.T) {
	for _, dialect := range []string{sqlstore.DialectSQLite, sqlstore.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			var dbURL string
			if dialect == sqlstore.DialectPostgres {
				dbURL = freshPostgres(t)
			}
			testRecoveryMailNotReadable(t, MustStart(t, EnvOptions{DatabaseURL: dbURL}))
		})
	}
}

func testRecoveryMailNotReadable(t *testing.T, e *Env) {
	ctx := context.Background()
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	const admin = "admin@example.com"
	e.Run("admin", "create", "--email", admin, "--name", "Admin")
	store := openStore(t, e)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Recovery mails go out as jdupont, as the admin UI's Settings set it.
	must(store.PutSetting(ctx, ui.SettingSystemSender, "jdupont"))
	must(store.PutSetting(ctx, ui.SettingSystemCompany, "FORTERRO"))
	must(store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: ui.RecoveryFlow, Subject: "[SOCIETE] : password reset", Body: "Hello [UTILISATEUR],\n[LIEN]"}))
	// An ordinary message, which the log does list.
	var bl messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &bl)

	// /forgot, as a browser: the page, then the form with its token.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(e.Base + "/forgot")
	must(err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := csrfField.FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("/forgot: %d, no form token:\n%s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(e.Base+"/forgot", url.Values{"email": {admin}, "csrf": {string(csrf[1])}})
	must(err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("If this address belongs to a user")) {
		t.Fatalf("POST /forgot: %d\n%s", resp.StatusCode, page)
	}

	// The user gets the link.
	var link string
	for deadline := time.Now().Add(20 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range e.SMTP.Messages() {
			if len(m.Recipients) > 0 && m.Recipients[0] == admin {
				body, err := TextPart(m.Data)
				must(err)
				if link = resetLink.FindString(body); link == "" {
					t.Fatalf("the recovery mail has no link:\n%s", body)
				}
			}
		}
	}
	if link == "" {
		t.Fatalf("no recovery mail reached the SMTP server\n%s", e.Logs())
	}
	token := link[strings.Index(link, "token=")+len("token="):]

	// The message exists, sent, and marked sensitive.
	var id, status string
	var sensitive bool
	for deadline := time.Now().Add(20 * time.Second); status != envoi.StatusSent && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		err := store.DB().QueryRowContext(ctx, `SELECT id, status, sensitive FROM messages WHERE document_flow = $1`, ui.RecoveryFlow).Scan(&id, &status, &sensitive)
		if err != nil && !strings.Contains(err.Error(), "no rows") {
			t.Fatal(err)
		}
	}
	if status != envoi.StatusSent {
		t.Fatalf("no recovery message recorded sent (%q %q)", id, status)
	}
	if !sensitive {
		t.Errorf("the recovery message %s is not marked sensitive", id)
	}

	// The ERP's key: no listing shows it, no read finds it.
	for _, path := range []string{"/v1/messages", "/v1/messages?document_flow=" + ui.RecoveryFlow, "/v1/messages?operator=jdupont", "/v1/messages?status=sent"} {
		r := e.call("GET", path, e.Key, nil)
		body := string(r.Body)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, body)
		}
		if strings.Contains(body, id) || strings.Contains(body, token) || strings.Contains(body, ui.RecoveryFlow) {
			t.Errorf("GET %s lists the recovery mail: %s", path, body)
		}
		if path == "/v1/messages" && !strings.Contains(body, bl.ID) {
			t.Errorf("GET %s does not list the ordinary message %s: it proves nothing", path, bl.ID)
		}
	}
	for _, path := range []string{"/v1/messages/" + id, "/v1/messages/" + id + "/eml"} {
		if r := e.call("GET", path, e.Key, nil); r.Status != 404 || bytes.Contains(r.Body, []byte(token)) {
			t.Errorf("GET %s: %d %s, want 404", path, r.Status, r.Body)
		}
	}
	if r := e.call("GET", "/v1/messages/"+bl.ID+"/eml", e.Key, nil); r.Status != 200 {
		t.Errorf("GET the ordinary message's .eml: %d", r.Status)
	}
	if out := e.Run("messages", "list"); strings.Contains(out, id) {
		t.Errorf("envoi messages list shows the recovery mail:\n%s", out)
	}

	// At rest: not in the database nor, on SQLite, in any file of the data
	// directory (database, its log, the spool); not in the logs.
	var emls int
	must(store.DB().QueryRowContext(ctx, `SELECT count(*) FROM message_emls WHERE message_id = $1`, id).Scan(&emls))
	var request []byte
	must(store.DB().QueryRowContext(ctx, `SELECT request FROM messages WHERE id = $1`, id).Scan(&request))
	if emls != 0 || bytes.Contains(request, []byte(token)) {
		t.Errorf("after the send: %d stored copies of the mail, request %s", emls, request)
	}
	// Pieces of the token: quoted-printable may cut it in two anywhere.
	var probes [][]byte
	for i := 0; i+12 <= len(token); i += 12 {
		probes = append(probes, []byte(token[i:i+12]), []byte(hex.EncodeToString([]byte(token[i:i+12]))))
	}
	if e.DBURL == "" {
		files := 0
		must(filepath.WalkDir(e.DataDir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			for _, p := range probes {
				if bytes.Contains(bytes.ToLower(b), bytes.ToLower(p)) {
					t.Errorf("%s holds the reset link", path)
					break
				}
			}
			return nil
		}))
		if files < 3 {
			t.Errorf("read %d files of the data directory: the check proves little", files)
		}
		if _, err := os.Stat(filepath.Join(e.DataDir, sqlstore.EMLFolder)); err != nil {
			t.Errorf("no spool was read: %v", err)
		}
	}
	if strings.Contains(e.Logs(), token) {
		t.Errorf("the logs hold the reset link")
	}
}
