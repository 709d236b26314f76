package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

var messageIDPattern = regexp.MustCompile(`^msg_[a-z2-7]{26}$`)

func newMessage(operator, key, hash string) *envoi.Accepted {
	return &envoi.Accepted{Message: &envoi.Message{IdempotencyKey: key, Request: sendRequest(operator)}, RequestHash: hash}
}

// queued returns the ids of the messages in the send queue (due now or
// later), in acceptance order.
func queued(tb testing.TB, s *sqlstore.Store) []string {
	tb.Helper()
	rows, err := s.DB().Query(`SELECT id FROM messages WHERE due_at IS NOT NULL ORDER BY seq`)
	must(tb, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		must(tb, rows.Scan(&id))
		out = append(out, id)
	}
	must(tb, rows.Err())
	return out
}

func TestMessages(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)

		m := newMessage("jdupont", "", "h1")
		m.Flow, m.Mailbox = "M365", "jdupont"
		m.Delivery = &envoi.Delivery{
			Transport: envoi.TransportSMTP,
			Envelope:  envoi.Envelope{From: "jdupont@forterro.example", Recipients: []string{"client@customer.example", "archive@forterro.example"}, Size: 66},
			Identity: envoi.Identity{Key: envoi.TokenKey{Flow: "M365", Operator: "jdupont"}, Username: "jdupont@forterro.example",
				Operator: "jdupont", Password: "never stored"},
			Document: &envoi.DeliveryDocument{Name: "BL_12345.pdf", ContentType: "application/pdf", Size: 12, At: 40, Encoded: 16},
			Archive:  true, FileType: "BL",
		}
		m.EML = []byte("From: jdupont@forterro.example\r\nSubject: BL 12345\r\n\r\nhello\r\n")
		created, err := s.CreateMessage(ctx, m)
		must(t, err)

		t.Run("Create", func(t *testing.T) {
			if !created {
				t.Error("created = false for a new message")
			}
			if !messageIDPattern.MatchString(m.ID) {
				t.Errorf("ID = %q, want msg_ + 26 base32 characters", m.ID)
			}
			if m.MessageID != "<"+strings.TrimPrefix(m.ID, "msg_")+"@envoi.invalid>" {
				t.Errorf("MessageID = %q", m.MessageID)
			}
			if m.Status != envoi.StatusQueued || !m.CreatedAt.Equal(clk.Now().Truncate(time.Microsecond)) || m.EMLSize != int64(len(m.EML)) {
				t.Errorf("m = %+v", m)
			}
			got, err := s.Message(ctx, m.ID)
			must(t, err)
			if got.Request.Operator != "jdupont" || got.Request.Context["ID_BL"] != "12345" || got.Request.Entity.ID != "12345" ||
				len(got.Request.Attachments) != 1 || string(got.Request.Attachments[0].Content) != "%PDF-1.4 ..." ||
				got.MessageID != m.MessageID || got.Status != envoi.StatusQueued ||
				got.Flow != "M365" || got.Mailbox != "jdupont" || got.EMLSize != int64(len(m.EML)) {
				t.Errorf("got %+v", got)
			}
			var hash string
			must(t, s.DB().QueryRowContext(ctx, `SELECT request_hash FROM messages WHERE id = $1`, m.ID).Scan(&hash))
			if hash != "h1" {
				t.Errorf("request hash %q stored, want h1", hash)
			}
			// The delivery record is stored whole, but the password.
			want := *m.Delivery
			want.Identity.Password = ""
			if got.Delivery == nil || !reflect.DeepEqual(*got.Delivery, want) {
				t.Errorf("Delivery = %+v, want %+v", got.Delivery, want)
			}
			eml, err := s.EML(ctx, m.ID)
			must(t, err)
			if string(eml) != string(m.EML) {
				t.Errorf("EML = %q", eml)
			}
			if jobs := queued(t, s); !slices.Equal(jobs, []string{m.ID}) {
				t.Errorf("queue = %v, want [%s]", jobs, m.ID)
			}
		})

		t.Run("Queue", func(t *testing.T) {
			// Due at once: the claim is the next worker's, and handed back
			// unsent it is due again.
			got, err := s.ClaimDue(ctx, 5, time.Minute)
			must(t, err)
			if len(got) != 1 || got[0].ID != m.ID || got[0].Token == "" {
				t.Fatalf("claimed %+v", got)
			}
			got[0].Status, got[0].Attempts = envoi.StatusQueued, 0
			must(t, s.Finish(ctx, got[0], 0))
			if again, err := s.ClaimDue(ctx, 5, time.Minute); err != nil || len(again) != 1 || again[0].Token == got[0].Token {
				t.Fatalf("claimed again %+v, %v; want the message with a new claim", again, err)
			}
			again, _ := s.Message(ctx, m.ID)
			again.Status, again.Attempts = envoi.StatusQueued, 0
			must(t, s.UpdateMessage(ctx, again))
		})

		t.Run("GivenIDs", func(t *testing.T) {
			m2 := newMessage("jdupont", "", "h")
			m2.ID, m2.MessageID = "msg_given", "<given@erp.example>"
			_, err := s.CreateMessage(ctx, m2)
			must(t, err)
			got, _ := s.Message(ctx, "msg_given")
			if got.MessageID != "<given@erp.example>" {
				t.Errorf("MessageID = %q", got.MessageID)
			}
			_, err = s.CreateMessage(ctx, m2)
			wantField(t, err, envoi.EConflict, "id")
		})

		t.Run("Idempotency", func(t *testing.T) {
			first := newMessage("jdupont", "erp-42", "hash-a")
			created, err := s.CreateMessage(ctx, first)
			must(t, err)
			if !created {
				t.Fatal("first: created = false")
			}
			jobs := len(queued(t, s))
			again := newMessage("jdupont", "erp-42", "hash-a")
			created, err = s.CreateMessage(ctx, again)
			must(t, err)
			if created || again.ID != first.ID || again.MessageID != first.MessageID || again.Duplicates != 0 {
				t.Errorf("same request: created %v id %s (want %s) duplicates %d", created, again.ID, first.ID, again.Duplicates)
			}
			other := newMessage("mmartin", "erp-42", "hash-b")
			_, err = s.CreateMessage(ctx, other)
			e := wantCode(t, err, envoi.EIdempotencyConflict)
			if e.Details["message_id"] != first.ID {
				t.Errorf("details %v", e.Details)
			}
			if n := len(queued(t, s)); n != jobs {
				t.Errorf("%d jobs, want %d: a replay enqueued again", n, jobs)
			}
		})

		// The request itself is validated once, where it is accepted
		// (queue.Service: TestServiceAccept); the store checks its own fields.
		t.Run("ErrInvalidStatus", func(t *testing.T) {
			bad := newMessage("jdupont", "", "h")
			bad.Status = "lost"
			_, err := s.CreateMessage(ctx, bad)
			wantField(t, err, envoi.EInvalidInput, "status")
		})

		t.Run("Update", func(t *testing.T) {
			clk.Advance(time.Minute)
			got, _ := s.Message(ctx, m.ID)
			got.Status, got.Attempts, got.ErrorCode, got.Error = envoi.StatusRetrying, 1, envoi.ESMTPTemporary, "451 4.7.0 try later"
			got.NextTry = clk.Now().Add(30 * time.Second)
			must(t, s.UpdateMessage(ctx, got))
			back, _ := s.Message(ctx, m.ID)
			if back.Status != envoi.StatusRetrying || back.Attempts != 1 || back.ErrorCode != envoi.ESMTPTemporary || back.Error != got.Error ||
				!back.NextTry.Equal(got.NextTry.Truncate(time.Microsecond)) || !back.UpdatedAt.Equal(clk.Now().Truncate(time.Microsecond)) {
				t.Errorf("got %+v", back)
			}
			got.Status = "bogus"
			wantField(t, s.UpdateMessage(ctx, got), envoi.EInvalidInput, "status")
			wantCode(t, s.UpdateMessage(ctx, &envoi.Message{ID: "msg_nope", Status: envoi.StatusSent}), envoi.ENotFound)
		})

		t.Run("EML", func(t *testing.T) {
			must(t, s.PutEML(ctx, m.ID, []byte("replaced")))
			eml, _ := s.EML(ctx, m.ID)
			got, _ := s.Message(ctx, m.ID)
			if string(eml) != "replaced" || got.EMLSize != 8 {
				t.Errorf("eml %q size %d", eml, got.EMLSize)
			}
			wantCode(t, s.PutEML(ctx, "msg_nope", []byte("x")), envoi.ENotFound)
			_, err := s.EML(ctx, "msg_given") // accepted without bytes
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := s.Message(ctx, "msg_nope")
			wantCode(t, err, envoi.ENotFound)
		})
	})
}

func TestMessagesFilter(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		start := clk.Now()
		var ids []string // in creation order
		for i := range 12 {
			op := []string{"jdupont", "mmartin", "plegrand"}[i%3]
			m := newMessage(op, "", "h")
			if i%2 == 0 {
				m.Request.DocumentFlow = "FACTURE_CLIENT"
				m.Request.Entity = &envoi.Entity{Type: "FACTURE", ID: fmt.Sprint(i)}
			}
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			ids = append(ids, m.ID)
			if i%4 == 0 {
				m.Status = envoi.StatusSent
				m.SentAt = clk.Now()
				must(t, s.UpdateMessage(ctx, m.Message))
			}
			if i < 6 {
				clk.Advance(time.Minute) // the last 6 share one instant
			}
		}
		newest := slices.Clone(ids)
		slices.Reverse(newest)
		idsOf := func(ms []*envoi.Message) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.ID)
			}
			return out
		}
		pick := func(idx ...int) []string {
			var out []string
			for _, i := range slices.Backward(idx) {
				out = append(out, ids[i])
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    envoi.MessageFilter
			want []string
		}{
			{"All", envoi.MessageFilter{}, newest},
			{"Limit", envoi.MessageFilter{Limit: 5}, newest[:5]},
			{"Status", envoi.MessageFilter{Status: envoi.StatusSent}, pick(0, 4, 8)},
			{"Operator", envoi.MessageFilter{Operator: "mmartin"}, pick(1, 4, 7, 10)},
			{"DocumentFlow", envoi.MessageFilter{DocumentFlow: "BL"}, pick(1, 3, 5, 7, 9, 11)},
			{"Entity", envoi.MessageFilter{EntityType: "FACTURE", EntityID: "4"}, pick(4)},
			{"Since", envoi.MessageFilter{Since: start.Add(5 * time.Minute)}, pick(5, 6, 7, 8, 9, 10, 11)},
			{"Until", envoi.MessageFilter{Until: start.Add(2 * time.Minute)}, pick(0, 1)},
			{"Before", envoi.MessageFilter{Before: ids[8], Limit: 3}, pick(5, 6, 7)},
			{"BeforeSameInstant", envoi.MessageFilter{Before: ids[11], Limit: 2}, pick(9, 10)},
			{"Combined", envoi.MessageFilter{Operator: "jdupont", DocumentFlow: "FACTURE_CLIENT"}, pick(0, 6)},
			{"None", envoi.MessageFilter{Operator: "nobody"}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Messages(ctx, tt.f)
				must(t, err)
				if got == nil {
					t.Error("Messages returned nil, want an empty list")
				}
				if g := idsOf(got); !slices.Equal(g, tt.want) {
					t.Errorf("got %v\nwant %v", g, tt.want)
				}
			})
		}
		t.Run("ListedFields", func(t *testing.T) {
			got, err := s.Messages(ctx, envoi.MessageFilter{Limit: 1})
			must(t, err)
			r := got[0].Request
			if got[0].ID != ids[11] || r.Operator != "plegrand" || r.DocumentFlow != "BL" || r.Company != "FORTERRO" || !slices.Equal(r.To, []string{"client@customer.example"}) ||
				r.Entity == nil || r.Entity.ID != "12345" {
				t.Errorf("listed request = %+v", r)
			}
		})
		t.Run("ErrBefore", func(t *testing.T) {
			_, err := s.Messages(ctx, envoi.MessageFilter{Before: "msg_nope"})
			wantField(t, err, envoi.EInvalidInput, "before")
		})
		t.Run("MaxLimit", func(t *testing.T) {
			got, err := s.Messages(ctx, envoi.MessageFilter{Limit: 1 << 20})
			must(t, err)
			if len(got) != 12 {
				t.Errorf("%d messages", len(got))
			}
		})
	})
}

func TestMessageClaim(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		m := newMessage("jdupont", "", "h")
		m.Flow, m.Mailbox = "M365", "jdupont"
		_, err := s.CreateMessage(ctx, m)
		must(t, err)

		t.Run("OneWinner", func(t *testing.T) {
			const n = 6
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range n {
				wg.Go(func() {
					got, won, err := s.ClaimMessage(ctx, m.ID, clk.Now().Add(2*time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					if got == nil || got.ID != m.ID {
						t.Errorf("claim returned %+v", got)
					}
					if won {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d claims won, want 1", wins)
			}
			got, _ := s.Message(ctx, m.ID)
			lease, err := sqlstore.LeaseUntil(ctx, s, m.ID)
			must(t, err)
			if got.Status != envoi.StatusSending || got.Attempts != 1 || got.Duplicates != 0 || !lease.Equal(clk.Now().Add(2*time.Minute).Truncate(time.Microsecond)) {
				t.Errorf("got %+v leased until %v", got, lease)
			}
		})

		t.Run("LapsedLease", func(t *testing.T) {
			clk.Advance(3 * time.Minute)
			got, won, err := s.ClaimMessage(ctx, m.ID, clk.Now().Add(2*time.Minute))
			must(t, err)
			if !won || got.Attempts != 2 || got.Duplicates != 1 {
				t.Errorf("won %v attempts %d duplicates %d; want a claim counting a possible duplicate", won, got.Attempts, got.Duplicates)
			}
		})

		t.Run("Final", func(t *testing.T) {
			got, _ := s.Message(ctx, m.ID)
			got.Status, got.SentAt = envoi.StatusSent, clk.Now()
			must(t, s.UpdateMessage(ctx, got))
			clk.Advance(time.Hour)
			back, won, err := s.ClaimMessage(ctx, m.ID, clk.Now().Add(time.Minute))
			must(t, err)
			if won || back.Status != envoi.StatusSent {
				t.Errorf("claimed a sent message: won %v status %s", won, back.Status)
			}
			wantCode(t, s.RequeueMessage(ctx, m.ID), envoi.EConflict)
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			_, _, err := s.ClaimMessage(ctx, "msg_nope", clk.Now())
			wantCode(t, err, envoi.ENotFound)
			wantCode(t, s.RequeueMessage(ctx, "msg_nope"), envoi.ENotFound)
		})

		t.Run("SentSince", func(t *testing.T) {
			for _, tt := range []struct {
				flow, mailbox string
				since         time.Time
				want          int
			}{
				{"M365", "jdupont", clk.Now().Add(-2 * time.Hour), 1},
				{"M365", "jdupont", clk.Now().Add(-time.Minute), 0},
				{"M365", "", clk.Now().Add(-2 * time.Hour), 0},
				{"GMAIL", "jdupont", clk.Now().Add(-2 * time.Hour), 0},
			} {
				n, err := s.SentSince(ctx, tt.flow, tt.mailbox, tt.since)
				must(t, err)
				if n != tt.want {
					t.Errorf("SentSince(%s, %q, %v) = %d, want %d", tt.flow, tt.mailbox, tt.since, n, tt.want)
				}
			}
		})
	})
}

func TestMessageRequeue(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		// claimDue claims what is due and returns the ids, in order.
		claimDue := func() []string {
			t.Helper()
			got, err := s.ClaimDue(ctx, 10, time.Minute)
			must(t, err)
			var ids []string
			for _, m := range got {
				ids = append(ids, m.ID)
			}
			slices.Sort(ids)
			return ids
		}
		park := func(op string) *envoi.Message {
			m := newMessage(op, "", "h")
			m.Flow, m.Mailbox = "M365", op
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			claimed, err := s.ClaimDue(ctx, 10, time.Minute)
			must(t, err)
			if len(claimed) != 1 || claimed[0].ID != m.ID {
				t.Fatalf("claimed %+v, want %s", claimed, m.ID)
			}
			got := claimed[0]
			got.Status = envoi.StatusConsentRequired
			must(t, s.Finish(ctx, got, 6*time.Hour))
			return got.Message
		}
		a, b, other := park("jdupont"), park("jdupont"), park("mmartin")
		if ids := claimDue(); len(ids) != 0 {
			t.Fatalf("a parked message was claimed: %v", ids)
		}

		n, err := s.ReleaseParked(ctx, envoi.TokenKey{Flow: "M365", Operator: "jdupont"})
		must(t, err)
		if n != 2 {
			t.Errorf("released %d, want 2", n)
		}
		for _, id := range []string{a.ID, b.ID} {
			m, _ := s.Message(ctx, id)
			if m.Status != envoi.StatusQueued {
				t.Errorf("%s status %s, want queued", id, m.Status)
			}
		}
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if got := claimDue(); !slices.Equal(got, want) {
			t.Errorf("due messages %v, want %v", got, want)
		}
		if m, _ := s.Message(ctx, other.ID); m.Status != envoi.StatusConsentRequired {
			t.Errorf("another mailbox's message was released: %s", m.Status)
		}

		t.Run("RequeueFailed", func(t *testing.T) {
			// A failed message is due no more: a manual retry makes it due.
			m, _ := s.Message(ctx, a.ID)
			m.Status = envoi.StatusFailed
			must(t, s.UpdateMessage(ctx, m))
			clk.Advance(2 * time.Minute) // b's lease lapses too
			must(t, s.Finish(ctx, &envoi.Claim{Message: &envoi.Message{ID: b.ID, Status: envoi.StatusSent, SentAt: clk.Now()}}, 0))
			if ids := claimDue(); len(ids) != 0 {
				t.Fatalf("a final message was claimed: %v", ids)
			}
			must(t, s.RequeueMessage(ctx, a.ID))
			if got := claimDue(); !slices.Equal(got, []string{a.ID}) {
				t.Fatalf("due %v, want [%s]", got, a.ID)
			}
			m, _ = s.Message(ctx, a.ID)
			if m.Status != envoi.StatusSending {
				t.Errorf("status %s", m.Status)
			}
		})

		t.Run("ErrSendingNow", func(t *testing.T) {
			wantCode(t, s.RequeueMessage(ctx, a.ID), envoi.EConflict)
		})
	})
}

// TestCreateMessageConcurrently: many goroutines accept at once; on SQLite
// none may fail with SQLITE_BUSY.
func TestCreateMessageConcurrently(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		const workers, each = 16, 20
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					m := newMessage("jdupont", fmt.Sprintf("k-%d-%d", w, i), "h")
					if _, err := s.CreateMessage(ctx, m); err != nil {
						t.Errorf("worker %d message %d: %v", w, i, err)
						return
					}
					// Readers run beside the writers.
					if _, err := s.Message(ctx, m.ID); err != nil {
						t.Errorf("read %s: %v", m.ID, err)
						return
					}
				}
			})
		}
		wg.Wait()
		all, err := s.Messages(ctx, envoi.MessageFilter{Limit: 1000})
		must(t, err)
		if len(all) != workers*each {
			t.Errorf("%d messages, want %d", len(all), workers*each)
		}
		if n := len(queued(t, s)); n != workers*each {
			t.Errorf("%d jobs, want %d", n, workers*each)
		}

		t.Run("SameIdempotencyKey", func(t *testing.T) {
			var mu sync.Mutex
			ids := map[string]bool{}
			createdN := 0
			for range workers {
				wg.Go(func() {
					m := newMessage("jdupont", "same-key", "same-hash")
					created, err := s.CreateMessage(ctx, m)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					ids[m.ID] = true
					if created {
						createdN++
					}
				})
			}
			wg.Wait()
			if createdN != 1 || len(ids) != 1 {
				t.Errorf("created %d times, %d ids; want one message", createdN, len(ids))
			}
			for id := range ids {
				m, _ := s.Message(ctx, id)
				// A replayed request is not a duplicate delivery.
				if m.Duplicates != 0 {
					t.Errorf("duplicates = %d, want 0", m.Duplicates)
				}
			}
		})
	})
}

// TestCreateMessageTwoInstances: two store handles on one database (two
// processes on one SQLite file, or two instances on PostgreSQL) accept at
// once.
func TestCreateMessageTwoInstances(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		stores := []*sqlstore.Store{MustOpen(t, o), MustOpen(t, o)}
		const workers, each = 8, 15
		var wg sync.WaitGroup
		for i, s := range stores {
			for w := range workers {
				wg.Go(func() {
					for j := range each {
						m := newMessage("jdupont", fmt.Sprintf("k-%d-%d-%d", i, w, j), "h")
						if _, err := s.CreateMessage(ctx, m); err != nil {
							t.Errorf("store %d worker %d: %v", i, w, err)
							return
						}
						if j%5 == 0 {
							if _, _, err := s.ClaimMessage(ctx, m.ID, time.Now().Add(time.Minute)); err != nil {
								t.Errorf("store %d claim: %v", i, err)
								return
							}
						}
					}
				})
			}
		}
		wg.Wait()
		all, err := stores[1].Messages(ctx, envoi.MessageFilter{Limit: 1000})
		must(t, err)
		if want := len(stores) * workers * each; len(all) != want {
			t.Errorf("%d messages, want %d", len(all), want)
		}
	})
}

func TestMessageIDDomain(t *testing.T) {
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	o.MessageIDDomain = "mail.forterro.example"
	s := MustOpen(t, o)
	m := newMessage("jdupont", "", "h")
	_, err := s.CreateMessage(context.Background(), m)
	must(t, err)
	if !strings.HasSuffix(m.MessageID, "@mail.forterro.example>") {
		t.Errorf("MessageID = %q", m.MessageID)
	}
}

// TestClaimOneLease: a claimed message has one lease: it is not handed out
// again while the lease runs, and is handed out, as a possible duplicate,
// as soon as it lapses — on the store's clock (goqite's timeout ran on
// the wall clock beside the message's lease).
func TestClaimOneLease(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		m := newMessage("jdupont", "", "h")
		_, err := s.CreateMessage(ctx, m)
		must(t, err)
		first, err := s.ClaimDue(ctx, 5, time.Minute)
		must(t, err)
		if len(first) != 1 || !first[0].LeaseUntil.Equal(clk.Now().Add(time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("claimed %+v", first)
		}
		clk.Advance(59 * time.Second)
		if again, _ := s.ClaimDue(ctx, 5, time.Minute); len(again) != 0 {
			t.Fatalf("claimed again while the lease runs")
		}
		clk.Advance(2 * time.Second)
		again, err := s.ClaimDue(ctx, 5, time.Minute)
		must(t, err)
		if len(again) != 1 || again[0].Duplicates != 1 || again[0].Unfinished != 1 || again[0].Attempts != 2 {
			t.Fatalf("after the lease lapsed: claimed %+v, want the message as a possible duplicate", again)
		}
	})
}

// TestFinishAndClaim: recording an outcome claims the next due message
// in the same commit, as ClaimDue would (leased, counted); with nothing
// due it claims none; a stale claim's outcome is refused and claims
// nothing. On PostgreSQL an outcome written in one statement claims none
// (the worker's next poll does).
func TestFinishAndClaim(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		var ids []string
		for range 2 {
			m := newMessage("jdupont", "", "h")
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			ids = append(ids, m.ID)
		}
		first, err := s.ClaimDue(ctx, 1, time.Minute)
		must(t, err)
		if len(first) != 1 || first[0].ID != ids[0] {
			t.Fatalf("claimed %+v, want %s", first, ids[0])
		}
		wantCode(t, func() error { _, err := s.FinishAndClaim(ctx, first[0], 0, 0); return err }(), envoi.EInvalidInput)

		first[0].Status, first[0].SentAt = envoi.StatusSent, clk.Now()
		next, err := s.FinishAndClaim(ctx, first[0], 0, time.Minute)
		must(t, err)
		if got, _ := s.Message(ctx, ids[0]); got.Status != envoi.StatusSent {
			t.Fatalf("the outcome: %s, want sent", got.Status)
		}
		if dialect == sqlstore.DialectPostgres && next == nil {
			// The outcome went in one statement: claimed by the next poll.
			if next, err = claimOne(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if next == nil || next.ID != ids[1] || next.Status != envoi.StatusSending || next.Attempts != 1 ||
			!next.LeaseUntil.Equal(clk.Now().Add(time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("claimed with the outcome: %+v, want %s leased for a minute", next, ids[1])
		}
		if again, _ := s.ClaimDue(ctx, 5, time.Minute); len(again) != 0 {
			t.Fatalf("claimed %d more while the next one is leased", len(again))
		}

		next.Status, next.SentAt = envoi.StatusSent, clk.Now()
		last, err := s.FinishAndClaim(ctx, next, 0, time.Minute)
		must(t, err)
		if last != nil {
			t.Fatalf("nothing due, yet claimed %+v", last)
		}
		// A claim older than the message's latest: refused, and the
		// message that came meanwhile is not claimed.
		m := newMessage("jdupont", "", "h")
		_, err = s.CreateMessage(ctx, m)
		must(t, err)
		stale := *next
		stale.Token = "0"
		got, err := s.FinishAndClaim(ctx, &stale, 0, time.Minute)
		wantCode(t, err, envoi.EConflict)
		if got != nil {
			t.Fatalf("a refused outcome claimed %+v", got)
		}
		if again, _ := s.ClaimDue(ctx, 5, time.Minute); len(again) != 1 || again[0].ID != m.ID {
			t.Fatalf("after the refused outcome: claimed %+v, want %s still due", again, m.ID)
		}
	})
}

// claimOne claims one due message, nil when none is due.
func claimOne(ctx context.Context, s *sqlstore.Store) (*envoi.Claim, error) {
	got, err := s.ClaimDue(ctx, 1, time.Minute)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	return got[0], nil
}

// TestFinishFenced: only the holder of a message's latest claim records an
// outcome. A worker whose lease lapsed while another claimed the message
// gets EConflict and changes nothing; so does one whose claim a manual
// retry superseded.
func TestFinishFenced(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		m := newMessage("jdupont", "", "h")
		_, err := s.CreateMessage(ctx, m)
		must(t, err)
		claim := func() *envoi.Claim {
			t.Helper()
			got, err := s.ClaimDue(ctx, 5, time.Minute)
			must(t, err)
			if len(got) != 1 {
				t.Fatalf("claimed %d messages, want 1", len(got))
			}
			return got[0]
		}
		slow := claim()
		clk.Advance(2 * time.Minute) // slow's lease lapses mid-send
		fast := claim()
		if fast.Token == slow.Token {
			t.Fatalf("two claims with one token %q", fast.Token)
		}

		slow.Status, slow.SentAt = envoi.StatusSent, clk.Now()
		wantCode(t, s.Finish(ctx, slow, 0), envoi.EConflict)
		got, _ := s.Message(ctx, m.ID)
		lease, err := sqlstore.LeaseUntil(ctx, s, m.ID)
		must(t, err)
		if got.Status != envoi.StatusSending || !lease.Equal(fast.LeaseUntil) {
			t.Fatalf("after a stale outcome: %s leased until %v, want sending under the latest claim", got.Status, lease)
		}

		fast.Status, fast.ErrorCode, fast.NextTry = envoi.StatusRetrying, envoi.ESMTPTemporary, clk.Now().Add(time.Minute)
		must(t, s.Finish(ctx, fast, time.Minute))
		got, _ = s.Message(ctx, m.ID)
		if lease, err = sqlstore.LeaseUntil(ctx, s, m.ID); err != nil || got.Status != envoi.StatusRetrying || !lease.IsZero() {
			t.Fatalf("the latest claim's outcome: %s leased until %v (%v), want retrying without a lease", got.Status, lease, err)
		}

		clk.Advance(time.Minute)
		held := claim()
		clk.Advance(2 * time.Minute)
		must(t, s.RequeueMessage(ctx, m.ID)) // the lease lapsed: a manual retry
		held.Status = envoi.StatusFailed
		wantCode(t, s.Finish(ctx, held, 0), envoi.EConflict)
		if got, _ := s.Message(ctx, m.ID); got.Status != envoi.StatusQueued {
			t.Errorf("status %s after a manual retry and a stale outcome, want queued", got.Status)
		}
		wantCode(t, s.Finish(ctx, &envoi.Claim{Message: &envoi.Message{ID: "msg_nope", Status: envoi.StatusSent}, Token: "1"}, 0), envoi.ENotFound)
	})
}
