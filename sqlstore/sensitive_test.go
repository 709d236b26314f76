package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// TestSensitiveMessage: a message that carries a credential (a password
// reset link) is stored without its keyword values and with its bytes
// sealed, outside the spool; Message, Messages and EML do not show it,
// EMLToSend gives the worker its bytes, and once it is sent they are gone.
// A claim still counts it as a possible duplicate like any other message.
func TestSensitiveMessage(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		s := MustOpen(t, o)
		link := "https://envoi.example/reset?token=" + randomToken(40)
		eml := []byte("Subject: Reset\r\n\r\nFollow " + link + "\r\n")

		plain := newMessage("jdupont", "", "")
		plain.EML = []byte("Subject: BL 12345\r\n\r\nhello\r\n")
		_, err := s.CreateMessage(ctx, plain)
		must(t, err)
		m := newMessage("system", "", "")
		m.Request.Context = map[string]string{"LIEN": link}
		m.Request.Entity = nil
		m.Request.Sensitive = true
		m.EML = eml
		_, err = s.CreateMessage(ctx, m)
		must(t, err)
		if !m.Sensitive {
			t.Fatal("CreateMessage did not mark the message sensitive")
		}

		// Hidden from every reader.
		_, err = s.Message(ctx, m.ID)
		wantCode(t, err, envoi.ENotFound)
		_, err = s.EML(ctx, m.ID)
		wantCode(t, err, envoi.ENotFound)
		list, err := s.Messages(ctx, envoi.MessageFilter{})
		must(t, err)
		if len(list) != 1 || list[0].ID != plain.ID {
			t.Errorf("Messages lists %d messages, want only %s", len(list), plain.ID)
		}
		if list, _ := s.Messages(ctx, envoi.MessageFilter{Operator: "system"}); len(list) != 0 {
			t.Errorf("Messages by operator lists the sensitive message")
		}
		// The link is nowhere in clear, not even before the send.
		noLink := func(when string) {
			t.Helper()
			probe := []byte(link[len(link)-40:])
			dumps := map[string][]byte{"SELECT of every column": selectEverything(t, s.DB(), dialect)}
			if dialect == sqlstore.DialectSQLite {
				_ = filepath.WalkDir(o.DataDir, func(path string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						b, rerr := os.ReadFile(path)
						if rerr != nil {
							t.Fatal(rerr)
						}
						dumps["file "+filepath.Base(path)] = b
					}
					return nil
				})
			}
			for what, d := range dumps {
				if bytes.Contains(d, probe) || bytes.Contains(bytes.ToLower(d), []byte(hex.EncodeToString(probe))) {
					t.Errorf("%s: %s holds the reset link", when, what)
				}
			}
		}
		noLink("before the send")

		// The worker's path: claimed like any message, its bytes opened.
		claimed, err := s.ClaimDue(ctx, 5, time.Minute)
		must(t, err)
		var got *envoi.Claim
		for _, c := range claimed {
			if c.ID == m.ID {
				got = c
			}
		}
		if got == nil || !got.Sensitive || got.Request.Context["LIEN"] != "" {
			t.Fatalf("claimed %+v, want the sensitive message without its keyword values", got)
		}
		b, err := s.EMLToSend(ctx, m.ID)
		if err != nil || !bytes.Equal(b, eml) {
			t.Fatalf("EMLToSend = %q, %v", b, err)
		}
		got.Status, got.SentAt = envoi.StatusSent, time.Now()
		must(t, s.Finish(ctx, got, 0))
		_, err = s.EMLToSend(ctx, m.ID)
		wantCode(t, err, envoi.ENotFound)
		var rows int
		must(t, s.DB().QueryRow(`SELECT count(*) FROM message_emls WHERE message_id = $1`, m.ID).Scan(&rows))
		if rows != 0 {
			t.Errorf("the sent message's bytes are still stored")
		}
		noLink("after the send")
		// The plain message is as before.
		if b, err := s.EML(ctx, plain.ID); err != nil || !bytes.Equal(b, plain.EML) {
			t.Errorf("EML of a plain message = %q, %v", b, err)
		}
	})
}
