package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"envoi"
	"envoi/sqlstore"
)

// The configuration reads are cached by config_version (cache.go). These
// tests open two handles on one database: b stands for another instance or
// the CLI writing while a serves.

// configFixture stores a configuration touching every cached read.
func configFixture(tb testing.TB, s *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	must(tb, s.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro", Logo: testLogo(tb, 0), LogoType: "image/png"}))
	o := operator("jdupont", "")
	o.SMTPPassword = "pw-1"
	must(tb, s.PutOperator(ctx, o))
	must(tb, s.PutOperator(ctx, operator("mmartin", "ventes")))
	must(tb, s.PutAuthFlow(ctx, m365Flow("M365", "jdupont")))
	must(tb, s.PutAuthFlow(ctx, smtpFlow("RELAY", nil, []string{"ventes"})))
	must(tb, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "BL [ID_BL]", Body: "Bonjour"}))
	must(tb, s.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "BL-[ID_BL]"}))
}

// configReads reads what the composer reads, through s.
type configReads struct {
	flow    *envoi.AuthFlow // of jdupont
	group   *envoi.AuthFlow // of mmartin, through the group
	op      *envoi.Operator
	company *envoi.Company
	doc     *envoi.DocumentFlow
	setting *envoi.MailSetting
	rule    *envoi.FileNameRule
}

func readConfig(tb testing.TB, s *sqlstore.Store) configReads {
	tb.Helper()
	ctx := context.Background()
	var r configReads
	var err error
	r.flow, err = s.FlowForOperator(ctx, "jdupont")
	must(tb, err)
	r.group, err = s.FlowForOperator(ctx, "mmartin")
	must(tb, err)
	r.op, err = s.Operator(ctx, "jdupont")
	must(tb, err)
	r.company, err = s.Company(ctx, "FORTERRO")
	must(tb, err)
	r.doc, err = s.DocumentFlow(ctx, "BL")
	must(tb, err)
	r.setting, err = s.MailSetting(ctx, "BL")
	must(tb, err)
	r.rule, err = s.FileNameRule(ctx, "BL")
	must(tb, err)
	return r
}

// changeConfig changes, through w, every value readConfig reads, with
// n in each, and checks that r (maybe another handle) reads the changes.
func changeConfig(t *testing.T, w, r *sqlstore.Store, n int) {
	t.Helper()
	ctx := context.Background()
	readConfig(t, r) // cached at the version before the change
	tag := strconv.Itoa(n)

	c, err := w.Company(ctx, "FORTERRO")
	must(t, err)
	c.Name, c.Logo = "Forterro "+tag, testLogo(t, n)
	must(t, w.PutCompany(ctx, c))
	o, err := w.Operator(ctx, "jdupont")
	must(t, err)
	o.Name, o.SMTPPassword = "Jean "+tag, "pw-"+tag
	must(t, w.PutOperator(ctx, o))
	f, err := w.AuthFlow(ctx, "M365")
	must(t, err)
	f.ClientSecret, f.MaxAttachmentsMB = "secret-"+tag, n
	must(t, w.PutAuthFlow(ctx, f))
	d, err := w.DocumentFlow(ctx, "BL")
	must(t, err)
	d.Name, d.Keywords = "BL "+tag, append(d.Keywords, "K"+tag)
	must(t, w.PutDocumentFlow(ctx, d))
	must(t, w.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "BL [ID_BL] " + tag, Body: "Bonjour"}))
	must(t, w.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "BL-[ID_BL]-" + tag}))
	// mmartin leaves the group's flow for M365, directly.
	f.Operators = append(f.Operators, "mmartin")
	relay, err := w.AuthFlow(ctx, "RELAY")
	must(t, err)
	relay.Groups = nil
	must(t, w.PutAuthFlow(ctx, relay))
	must(t, w.PutAuthFlow(ctx, f))

	got := readConfig(t, r)
	if got.company.Name != "Forterro "+tag || !bytes.Equal(got.company.Logo, testLogo(t, n)) {
		t.Errorf("company = %q %q, want the change %s", got.company.Name, got.company.Logo, tag)
	}
	if got.op.Name != "Jean "+tag || got.op.SMTPPassword != "pw-"+tag {
		t.Errorf("operator = %q %q, want the change %s", got.op.Name, got.op.SMTPPassword, tag)
	}
	if got.flow.Code != "M365" || got.flow.ClientSecret != "secret-"+tag || got.flow.MaxAttachmentsMB != n || !reflect.DeepEqual(got.flow.Operators, []string{"jdupont", "mmartin"}) {
		t.Errorf("flow of jdupont = %s %q %d %v, want M365 with the change %s", got.flow.Code, got.flow.ClientSecret, got.flow.MaxAttachmentsMB, got.flow.Operators, tag)
	}
	if got.group.Code != "M365" {
		t.Errorf("flow of mmartin = %s, want M365 (moved)", got.group.Code)
	}
	if got.doc.Name != "BL "+tag || got.doc.Keywords[len(got.doc.Keywords)-1] != "K"+tag {
		t.Errorf("document flow = %q %v, want the change %s", got.doc.Name, got.doc.Keywords, tag)
	}
	if got.setting.Subject != "BL [ID_BL] "+tag {
		t.Errorf("mail setting subject = %q, want the change %s", got.setting.Subject, tag)
	}
	if got.rule.Pattern != "BL-[ID_BL]-"+tag {
		t.Errorf("file-name rule = %q, want the change %s", got.rule.Pattern, tag)
	}

	// Deletions, and the operator back in the group's flow.
	must(t, w.DeleteFileNameRule(ctx, "BL"))
	if _, err := r.FileNameRule(ctx, "BL"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("file-name rule deleted by the other handle: %v, want not found", err)
	}
	must(t, w.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "BL-[ID_BL]"}))
	f.Operators = []string{"jdupont"}
	must(t, w.PutAuthFlow(ctx, f))
	relay.Groups = []string{"ventes"}
	must(t, w.PutAuthFlow(ctx, relay))
	if got, err := r.FlowForOperator(ctx, "mmartin"); err != nil || got.Code != "RELAY" {
		t.Errorf("flow of mmartin = %v, %v; want RELAY again", got, err)
	}
}

func TestConfigCacheOtherHandle(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		configFixture(t, a)
		for n := 1; n <= 2; n++ {
			changeConfig(t, b, a, n)
		}
		// A rotation by the other handle re-seals the secrets a holds open.
		ctx := context.Background()
		readConfig(t, a)
		_, err := b.RotateKeys(ctx, nil)
		must(t, err)
		o2 := operator("jdupont", "")
		o2.SMTPPassword = "pw-rotated"
		must(t, b.PutOperator(ctx, o2))
		if got := readConfig(t, a); got.op.SMTPPassword != "pw-rotated" || got.flow.ClientSecret != "secret-2" {
			t.Errorf("after rotation: password %q, client secret %q", got.op.SMTPPassword, got.flow.ClientSecret)
		}
	})
}

func TestConfigCacheSameHandle(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		s, _ := MustOpenStore(t, dialect)
		configFixture(t, s)
		for n := 1; n <= 2; n++ {
			changeConfig(t, s, s, n)
		}
		ctx := context.Background()
		must(t, s.DeleteCompany(ctx, "FORTERRO"))
		if _, err := s.Company(ctx, "FORTERRO"); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("deleted company: %v, want not found", err)
		}
		// A not-found is kept only until the configuration changes.
		must(t, s.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "again"}))
		if c, err := s.Company(ctx, "FORTERRO"); err != nil || c.Name != "again" {
			t.Errorf("company put again: %v, %v", c, err)
		}
	})
}

// TestConfigCacheCopies changes what the reads return, twice (the first
// read fills the cache, the second comes from it), and reads again.
func TestConfigCacheCopies(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		s := MustOpen(t, o)
		configFixture(t, s)
		ctx := context.Background()
		// Read by another handle: nothing in it can be shared with s.
		want := readConfig(t, MustOpen(t, o))
		for range 2 {
			r := readConfig(t, s)
			for _, f := range []*envoi.AuthFlow{r.flow, r.group} {
				if len(f.Operators) > 0 {
					f.Operators[0] = "changed"
				}
				if len(f.Groups) > 0 {
					f.Groups[0] = "changed"
				}
				f.Operators, f.Groups = append(f.Operators, "more"), append(f.Groups, "more")
				f.ClientSecret, f.SMTP.Host = "changed", "changed"
			}
			r.op.Name, r.op.SMTPPassword = "changed", "changed"
			r.company.Logo[0], r.company.Name = 'X', "changed"
			r.doc.Keywords[0] = "CHANGED"
			r.doc.Keywords = append(r.doc.Keywords, "MORE")
			r.setting.Subject, r.rule.Pattern = "changed", "changed"
			if got := readConfig(t, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("a caller's change reached the store's reads:\ngot  %+v\nwant %+v", got, want)
			}
		}
		f, err := s.AuthFlow(ctx, "M365")
		must(t, err)
		f.Operators[0] = "changed"
		if f, _ := s.AuthFlow(ctx, "M365"); f.Operators[0] != "jdupont" {
			t.Errorf("AuthFlow operators = %v after a caller changed theirs", f.Operators)
		}
	})
}

// TestConfigCacheConcurrentWrite reads while another handle writes: no
// read may go back to an older value, and the read after the last write
// sees it.
func TestConfigCacheConcurrentWrite(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		configFixture(t, a)
		ctx := context.Background()
		const writes = 60
		flowOf := func(i int) string { return [2]string{"M365", "RELAY"}[i%2] }

		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				last := -1
				for {
					select {
					case <-done:
						return
					default:
					}
					c, err := a.Company(ctx, "FORTERRO")
					if err != nil {
						t.Error(err)
						return
					}
					n := 0
					if c.Name != "Forterro" {
						if _, err := fmt.Sscanf(c.Name, "v%d", &n); err != nil {
							t.Errorf("company name %q", c.Name)
							return
						}
					}
					if n < last {
						t.Errorf("read %q after v%d", c.Name, last)
						return
					}
					last = n
					// Between the two writes of a move jdupont is in no flow.
					if _, err := a.FlowForOperator(ctx, "jdupont"); err != nil && envoi.ErrorCode(err) != envoi.ENoFlowForOperator {
						t.Error(err)
						return
					}
				}
			})
		}
		for i := 1; i <= writes; i++ {
			must(t, b.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: fmt.Sprintf("v%d", i)}))
			m, err := b.AuthFlow(ctx, "M365")
			must(t, err)
			r, err := b.AuthFlow(ctx, "RELAY")
			must(t, err)
			// Out of one flow, then into the other.
			from, to := m, r
			if flowOf(i) == "M365" {
				from, to = r, m
			}
			from.Operators = nil
			must(t, b.PutAuthFlow(ctx, from))
			to.Operators = []string{"jdupont"}
			must(t, b.PutAuthFlow(ctx, to))
		}
		close(done)
		wg.Wait()
		c, err := a.Company(ctx, "FORTERRO")
		must(t, err)
		if want := fmt.Sprintf("v%d", writes); c.Name != want {
			t.Errorf("after the writes, company name %q, want %q", c.Name, want)
		}
		f, err := a.FlowForOperator(ctx, "jdupont")
		must(t, err)
		if want := flowOf(writes); f.Code != want || !reflect.DeepEqual(f.Operators, []string{"jdupont"}) {
			t.Errorf("after the writes, jdupont's flow %s %v, want %s [jdupont]", f.Code, f.Operators, want)
		}
	})
}

// TestConfigVersionTriggers checks which tables bump config_version: every
// table of the configuration (sqlstore's configTables), on an insert, an
// update and a delete, and none written per message.
func TestConfigVersionTriggers(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		s, _ := MustOpenStore(t, dialect)
		configFixture(t, s)
		ctx := context.Background()
		version := func() int64 {
			var n int64
			must(t, s.DB().QueryRowContext(ctx, `SELECT n FROM config_version`).Scan(&n))
			return n
		}
		const ts = "'2026-03-02T09:30:00.000000Z'"
		tables := []struct{ name, insert, set, key string }{
			{"companies", "(code, updated_at) VALUES ('T', " + ts + ")", "name = 'x'", "code = 'T'"},
			{"operator_groups", "(code, updated_at) VALUES ('t', " + ts + ")", "name = 'x'", "code = 't'"},
			{"operators", "(code, updated_at) VALUES ('t', " + ts + ")", "name = 'x'", "code = 't'"},
			{"auth_flows", "(code, kind, updated_at) VALUES ('T', 'smtp', " + ts + ")", "name = 'x'", "code = 'T'"},
			{"auth_flow_operators", "(operator, flow) VALUES ('t', 'T')", "flow = 'T'", "operator = 't'"},
			{"auth_flow_groups", "(group_code, flow) VALUES ('t', 'T')", "flow = 'T'", "group_code = 't'"},
			{"document_flows", "(code, updated_at) VALUES ('T', " + ts + ")", "name = 'x'", "code = 'T'"},
			{"mail_settings", "(document_flow, updated_at) VALUES ('T', " + ts + ")", "subject = 'x'", "document_flow = 'T'"},
			{"mail_setting_variants", "(document_flow, language, updated_at) VALUES ('T', 'fr', " + ts + ")", "subject = 'x'", "document_flow = 'T'"},
			{"file_name_rules", "(document_flow, updated_at) VALUES ('T', " + ts + ")", "pattern = 'x'", "document_flow = 'T'"},
			{"api_keys", "(id, name, hash, created_at) VALUES ('t', 't', 'h', " + ts + ")", "revoked_at = " + ts, "id = 't'"},
		}
		var written []string
		for _, tt := range tables {
			written = append(written, tt.name)
		}
		if got, want := slices.Sorted(slices.Values(written)), slices.Sorted(slices.Values(sqlstore.ConfigTables())); !slices.Equal(got, want) {
			t.Errorf("the tables written here are %v, want the configuration's %v: each needs a row to write", got, want)
		}
		bumps := func(what, query string) {
			t.Helper()
			before := version()
			res, err := s.DB().ExecContext(ctx, query)
			must(t, err)
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("%s changed %d rows, want 1", query, n)
			}
			if v := version(); v <= before {
				t.Errorf("%s of %s left config_version at %d", what, query, v)
			}
		}
		for _, tt := range tables {
			bumps("an insert", "INSERT INTO "+tt.name+" "+tt.insert)
		}
		for _, tt := range tables {
			bumps("an update", "UPDATE "+tt.name+" SET "+tt.set+" WHERE "+tt.key)
		}
		for _, tt := range slices.Backward(tables) {
			bumps("a delete", "DELETE FROM "+tt.name+" WHERE "+tt.key)
		}

		before := version()
		must(t, s.SaveToken(ctx, &envoi.Token{Flow: "M365", Operator: "jdupont", AccessToken: "at", RefreshToken: "rt"}))
		if _, err := s.CreateMessage(ctx, newMessage("jdupont", "", "h")); err != nil {
			t.Fatal(err)
		}
		if v := version(); v != before {
			t.Errorf("a token and a message moved config_version from %d to %d", before, v)
		}
	})
}

// TestConfigWritersQueue deletes a flow and its operator at once through
// two handles (PostgreSQL deadlocked on this before the writers took the
// version's row first: one held the token the other's cascade deleted).
func TestConfigWritersQueue(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		ctx := context.Background()
		for i := range 20 {
			op, flow := fmt.Sprintf("op%d", i), fmt.Sprintf("F%d", i)
			must(t, a.PutOperator(ctx, operator(op, "")))
			must(t, a.PutAuthFlow(ctx, m365Flow(flow, op)))
			must(t, a.SaveToken(ctx, &envoi.Token{Flow: flow, Operator: op, AccessToken: "at", RefreshToken: "rt"}))
			var wg sync.WaitGroup
			for _, write := range []func() error{
				func() error { return a.DeleteAuthFlow(ctx, flow) },
				func() error { return b.DeleteOperator(ctx, op) },
				func() error { return b.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: op}) },
			} {
				wg.Go(func() {
					if err := write(); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
	})
}

// TestConfigCacheNotFound: a missing rule is remembered too, until another
// handle adds it; callers cannot change the remembered error.
func TestConfigCacheNotFound(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		configFixture(t, a)
		for range 2 {
			_, err := a.FileNameRule(ctx, "FACTURE_CLIENT")
			if e := wantCode(t, err, envoi.ENotFound); e != nil {
				e.WithDetail("scribbled", true)
			}
		}
		_, err := a.FileNameRule(ctx, "FACTURE_CLIENT")
		if e := wantCode(t, err, envoi.ENotFound); e != nil && e.Details["scribbled"] != nil {
			t.Errorf("the remembered error kept a caller's change: %v", e.Details)
		}
		must(t, b.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "FACTURE_CLIENT", Pattern: "F-[ID_FACTURE]"}))
		if r, err := a.FileNameRule(ctx, "FACTURE_CLIENT"); err != nil || r.Pattern != "F-[ID_FACTURE]" {
			t.Errorf("after another handle added it: %v, %v", r, err)
		}
	})
}

// TestConfigSnapshot: reads under one snapshot are of its version; a new
// context sees what changed since.
func TestConfigSnapshot(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		configFixture(t, a)
		snap := a.ConfigSnapshot(context.Background())
		if ms, err := a.MailSetting(snap, "BL"); err != nil || ms.Subject != "BL [ID_BL]" {
			t.Fatalf("mail setting = %v, %v", ms, err)
		}
		must(t, b.PutMailSetting(context.Background(), &envoi.MailSetting{DocumentFlow: "BL", Subject: "changed", Body: "Bonjour"}))
		if ms, err := a.MailSetting(snap, "BL"); err != nil || ms.Subject != "BL [ID_BL]" {
			t.Errorf("under the snapshot: %v, %v; want the value of its version", ms, err)
		}
		if ms, err := a.MailSetting(context.Background(), "BL"); err != nil || ms.Subject != "changed" {
			t.Errorf("after the snapshot: %v, %v; want the change", ms, err)
		}
	})
}

// TestAPIKeyCacheRevokedAtOnce: an instance that looked a key up (and
// keeps it in its cache) refuses it at its next request once another
// instance revoked it, and sees a new key at once.
func TestAPIKeyCacheRevokedAtOnce(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		a, b := MustOpen(t, o), MustOpen(t, o)
		ctx := context.Background()
		hash := func(key string) []byte {
			h := make([]byte, 32)
			copy(h, key)
			return h
		}
		k := &envoi.APIKey{Name: "erp", Hash: hash("key-1")}
		must(t, a.CreateAPIKey(ctx, k))
		for range 3 {
			got, err := b.APIKeyByHash(ctx, hash("key-1"))
			must(t, err)
			if got.ID != k.ID {
				t.Fatalf("APIKeyByHash = %+v", got)
			}
		}
		_, err := b.APIKeyByHash(ctx, hash("key-2"))
		wantCode(t, err, envoi.EUnauthorized)
		must(t, a.CreateAPIKey(ctx, &envoi.APIKey{Name: "erp-2", Hash: hash("key-2")}))
		_, err = b.APIKeyByHash(ctx, hash("key-2"))
		must(t, err)

		must(t, a.RevokeAPIKey(ctx, k.ID))
		_, err = b.APIKeyByHash(ctx, hash("key-1"))
		wantCode(t, err, envoi.EUnauthorized)
	})
}
