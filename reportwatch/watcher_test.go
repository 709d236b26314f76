package reportwatch_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/reportwatch"
	"envoi/secret"
	"envoi/sqlstore"
)

// fakeSource hands the watcher fixed messages, and counts the mailboxes
// it is asked to read.
type fakeSource struct {
	mu    sync.Mutex
	reads map[envoi.TokenKey]int
	msgs  [][]byte
	// hold, when set, keeps Reports until it is closed.
	hold chan struct{}
	in   chan struct{}
}

func (f *fakeSource) Reports(ctx context.Context, box reportwatch.Mailbox, found func([]byte) error) error {
	f.mu.Lock()
	f.reads[box.Key]++
	f.mu.Unlock()
	if f.hold != nil {
		f.in <- struct{}{}
		<-f.hold
	}
	for _, m := range f.msgs {
		if err := found(m); err != nil {
			return err
		}
	}
	return nil
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: t.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, s.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "J", Email: "jdupont@forterro.test", SMTPPassword: "pw"}))
	must(t, s.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "BASIC", Name: "b", Kind: envoi.KindSMTPBasic, Operators: []string{"jdupont"},
		SMTP: envoi.SMTPServer{Host: "smtp.forterro.test", Port: 587, Security: envoi.SecuritySTARTTLS},
		IMAP: envoi.IMAPServer{Enabled: true, Host: "imap.forterro.test", Port: 993, Security: envoi.SecurityTLS}}))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sentMessage(t *testing.T, s *sqlstore.Store, msgID string) *envoi.Message {
	m := &envoi.Message{Status: envoi.StatusSent, SentAt: time.Now(), Flow: "BASIC", Mailbox: "jdupont", MessageID: msgID,
		Request: envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"achtas@client.test"}}}
	if _, err := s.CreateMessage(context.Background(), &envoi.Accepted{Message: m}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWatcherRecords: the reports a source finds are matched to the
// mailbox's messages and recorded; a report about a message of no one
// changes nothing, and a flow with IMAP off is not read.
func TestWatcherRecords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	bounced := sentMessage(t, s, "<k7x2abcdefghijklmnopqrstuv@envoi.test>")
	read := sentMessage(t, s, "<m5soft00000000000000000000@envoi.test>")
	var msgs [][]byte
	for _, f := range []string{"rfc3464_failed", "rfc8098_displayed", "microsoft_ndr", "not_report", "google_dsn"} {
		b, err := os.ReadFile("../dsn/testdata/" + f + ".eml")
		must(t, err)
		msgs = append(msgs, b)
	}
	// The goldens of package dsn: the RFC 3464 bounce and the read receipt
	// name the first message's Message-ID, Microsoft's NDR the second's
	// (in X-Microsoft-Original-Message-ID, its Message-ID rewritten),
	// Google's bounce a message of no one here.
	src := &fakeSource{reads: map[envoi.TokenKey]int{}, msgs: msgs}
	w := &reportwatch.Watcher{Store: s, Sources: map[string]reportwatch.Source{envoi.TransportSMTP: src}}
	st, err := w.Once(ctx)
	must(t, err)
	if st.Mailboxes != 1 || st.Reports != 4 || st.Matched != 3 || st.Bounced != 2 || st.Read != 1 {
		t.Errorf("stats %+v", st)
	}
	got, err := s.Message(ctx, bounced.ID)
	must(t, err)
	if got.Status != envoi.StatusBounced || got.Bounce == nil || got.Bounce.Status != "5.1.1" || got.Bounce.Recipient != "achtas@client.test" {
		t.Errorf("bounced: %s %+v", got.Status, got.Bounce)
	}
	if got.ReadAt.IsZero() {
		t.Error("the read receipt about it was not recorded")
	}
	got, err = s.Message(ctx, read.ID)
	must(t, err)
	if got.Status != envoi.StatusBounced || got.Bounce.Status != "5.1.10" {
		t.Errorf("Microsoft NDR: %s %+v", got.Status, got.Bounce)
	}

	// Off: the flow's mailboxes are not read.
	f, err := s.AuthFlow(ctx, "BASIC")
	must(t, err)
	f.IMAP.Enabled = false
	must(t, s.PutAuthFlow(ctx, f))
	st, err = w.Once(ctx)
	must(t, err)
	if st.Mailboxes != 0 || src.reads[envoi.TokenKey{Flow: "BASIC", Operator: "jdupont"}] != 1 {
		t.Errorf("a flow with imap off was read: %+v %v", st, src.reads)
	}
}

// TestWatcherLease: two instances' rounds at once read a mailbox once.
func TestWatcherLease(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	sentMessage(t, s, "<a@envoi.test>")
	src := &fakeSource{reads: map[envoi.TokenKey]int{}, hold: make(chan struct{}), in: make(chan struct{}, 2)}
	a := &reportwatch.Watcher{Store: s, Sources: map[string]reportwatch.Source{envoi.TransportSMTP: src}, Holder: "a"}
	b := &reportwatch.Watcher{Store: s, Sources: map[string]reportwatch.Source{envoi.TransportSMTP: src}, Holder: "b"}
	done := make(chan reportwatch.Stats)
	go func() { st, _ := a.Once(ctx); done <- st }()
	<-src.in // a holds the mailbox
	st, err := b.Once(ctx)
	must(t, err)
	if st.Mailboxes != 0 {
		t.Errorf("b read the mailbox a holds: %+v", st)
	}
	close(src.hold)
	if st := <-done; st.Mailboxes != 1 {
		t.Errorf("a: %+v", st)
	}
	// Released: b reads it now.
	st, err = b.Once(ctx)
	must(t, err)
	if st.Mailboxes != 1 {
		t.Errorf("b after a's release: %+v", st)
	}
}
