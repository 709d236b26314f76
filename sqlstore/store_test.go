package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/secret"
	"envoi/sqlstore"
)

// The conformance suite: every test runs on SQLite and on PostgreSQL.

var _ envoi.Store = (*sqlstore.Store)(nil)

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("ErrUnknownScheme", func(t *testing.T) {
		for _, u := range []string{"mysql://root:pw@127.0.0.1/envoi", "sqlite:///tmp/x.db", "127.0.0.1:5432"} {
			_, err := sqlstore.Open(ctx, sqlstore.Options{DatabaseURL: u, MasterKey: secret.NewKey()})
			e := wantField(t, err, envoi.EInvalidInput, "database_url")
			if strings.Contains(e.Error(), "pw") {
				t.Errorf("the error shows the URL's password: %v", e)
			}
		}
	})

	t.Run("ErrMasterKey", func(t *testing.T) {
		_, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: t.TempDir(), MasterKey: []byte("short")})
		wantField(t, err, envoi.EInvalidInput, "master_key")
	})

	t.Run("ErrPostgresDown", func(t *testing.T) {
		// A port nothing listens on, on loopback.
		_, err := sqlstore.Open(ctx, sqlstore.Options{DatabaseURL: "postgres://envoi:secretpw@127.0.0.1:1/envoi?connect_timeout=2", MasterKey: secret.NewKey()})
		e := wantCode(t, err, envoi.EUnavailable)
		if strings.Contains(e.Error(), "secretpw") {
			t.Errorf("the error shows the URL's password: %v", e)
		}
	})

	ForEachDialect(t, func(t *testing.T, dialect string) {
		o := NewTestOptions(t, dialect)
		s, err := sqlstore.Open(ctx, o)
		must(t, err)
		defer s.Close()
		if got := s.Dialect(); got != dialect {
			t.Errorf("Dialect = %q, want %q", got, dialect)
		}
		must(t, s.Ping(ctx))
		if s.DB() == nil || s.Cipher() == nil {
			t.Fatal("DB or Cipher is nil")
		}
		// Not migrated yet: no tables.
		if _, err := s.Companies(ctx); err == nil {
			t.Error("Companies on an unmigrated database succeeded")
		}
		must(t, s.Migrate(ctx))
		must(t, s.Migrate(ctx)) // nothing to do the second time
		v, err := s.Version(ctx)
		must(t, err)
		if v < 2 {
			t.Errorf("Version = %d, want >= 2", v)
		}
		if dialect == sqlstore.DialectSQLite {
			if _, err := os.Stat(filepath.Join(o.DataDir, sqlstore.DatabaseFile)); err != nil {
				t.Errorf("database file: %v", err)
			}
			var mode string
			must(t, s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode))
			if mode != "wal" {
				t.Errorf("journal_mode = %q, want wal", mode)
			}
			var fk int
			must(t, s.DB().QueryRow(`PRAGMA foreign_keys`).Scan(&fk))
			if fk != 1 {
				t.Errorf("foreign_keys = %d, want 1", fk)
			}
		}
		must(t, s.Close())
		must(t, s.Close()) // twice is fine
	})
}

func TestMigrateConcurrently(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		if dialect != sqlstore.DialectPostgres {
			t.Skip("several instances share a database on PostgreSQL")
		}
		o := NewTestOptions(t, dialect)
		const n = 4
		errs := make(chan error, n)
		stores := make([]*sqlstore.Store, n)
		for i := range stores {
			s, err := sqlstore.Open(context.Background(), o)
			must(t, err)
			defer s.Close()
			stores[i] = s
		}
		for _, s := range stores {
			go func() { errs <- s.Migrate(context.Background()) }()
		}
		for range n {
			must(t, <-errs)
		}
		// They all share the one first data key.
		ct, err := stores[0].Cipher().Seal([]byte("x"), "t/c/1")
		must(t, err)
		for i, s := range stores {
			if _, err := s.Cipher().Open(ct, "t/c/1"); err != nil {
				t.Errorf("store %d: %v", i, err)
			}
		}
		flows, err := stores[1].DocumentFlows(context.Background())
		must(t, err)
		if len(flows) != 30 {
			t.Errorf("%d document flows, want 30 (seeded once)", len(flows))
		}
	})
}

func TestCompanies(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)

		t.Run("OK", func(t *testing.T) {
			logo := testLogo(t, 0)
			c := &envoi.Company{Code: "FORTERRO", Name: "Forterro SAS", FooterText: "Forterro — 1 rue de Paris", Logo: logo, LogoType: "image/png", Language: "fr", Currency: "EUR", Address: "1 rue de Paris\n75001 Paris"}
			must(t, s.PutCompany(ctx, c))
			if !c.UpdatedAt.Equal(clk.Now().Truncate(time.Microsecond)) {
				t.Errorf("UpdatedAt = %v, want %v", c.UpdatedAt, clk.Now())
			}
			got, err := s.Company(ctx, "FORTERRO")
			must(t, err)
			if got.Name != c.Name || got.FooterText != c.FooterText || string(got.Logo) != string(logo) || got.LogoType != "image/png" ||
				got.Language != "fr" || got.Currency != "EUR" || got.Address != c.Address || !got.UpdatedAt.Equal(c.UpdatedAt) {
				t.Errorf("got %+v, want %+v", got, c)
			}
			clk.Advance(time.Minute)
			c.Name, c.Logo, c.LogoType = "Forterro", nil, ""
			must(t, s.PutCompany(ctx, c))
			got, _ = s.Company(ctx, "FORTERRO")
			if got.Name != "Forterro" || got.Logo != nil || !got.UpdatedAt.Equal(c.UpdatedAt) {
				t.Errorf("after update: %+v", got)
			}
			must(t, s.PutCompany(ctx, &envoi.Company{Code: "ACME", Name: "Acme"}))
			list, err := s.Companies(ctx)
			must(t, err)
			if len(list) != 2 || list[0].Code != "ACME" || list[1].Code != "FORTERRO" {
				t.Errorf("Companies = %v", list)
			}
			must(t, s.DeleteCompany(ctx, "ACME"))
			_, err = s.Company(ctx, "ACME")
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, tt := range []struct {
				name  string
				c     *envoi.Company
				field string
			}{
				{"Code", &envoi.Company{Code: "BAD CODE"}, "code"},
				{"EmptyCode", &envoi.Company{}, "code"},
				{"Language", &envoi.Company{Code: "X", Language: "de"}, "language"},
				{"LogoType", &envoi.Company{Code: "X", Logo: []byte("GIF89a"), LogoType: "image/gif"}, "logo"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					wantField(t, s.PutCompany(ctx, tt.c), envoi.EInvalidInput, tt.field)
				})
			}
			if _, err := s.Company(ctx, "X"); envoi.ErrorCode(err) != envoi.ENotFound {
				t.Errorf("an invalid company was stored: %v", err)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := s.Company(ctx, "NOPE")
			wantCode(t, err, envoi.ENotFound)
			wantCode(t, s.DeleteCompany(ctx, "NOPE"), envoi.ENotFound)
		})
	})
}

func TestOperators(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)

		t.Run("PasswordKept", func(t *testing.T) {
			o := operator("jdupont", "")
			o.SMTPPassword = "P@ssw0rd-jdupont"
			o.SignatureHTML = "<p>Jean Dupont</p>"
			o.OAuthEnabled = true
			must(t, s.PutOperator(ctx, o))
			if !o.SMTPPasswordSet {
				t.Error("SMTPPasswordSet = false after a put with a password")
			}
			got, err := s.Operator(ctx, "jdupont")
			must(t, err)
			if got.SMTPPassword != "P@ssw0rd-jdupont" || !got.SMTPPasswordSet || got.SignatureHTML != o.SignatureHTML || !got.OAuthEnabled || got.Email != o.Email {
				t.Errorf("got %+v", got)
			}
			// An empty password keeps the stored one.
			o2 := operator("jdupont", "")
			o2.Name = "Jean Dupont"
			must(t, s.PutOperator(ctx, o2))
			if !o2.SMTPPasswordSet {
				t.Error("SMTPPasswordSet = false after a put keeping the password")
			}
			got, _ = s.Operator(ctx, "jdupont")
			if got.SMTPPassword != "P@ssw0rd-jdupont" || got.Name != "Jean Dupont" || got.OAuthEnabled {
				t.Errorf("after a put without password: %+v", got)
			}
			// A new one replaces it.
			o2.SMTPPassword = "new-password"
			must(t, s.PutOperator(ctx, o2))
			got, _ = s.Operator(ctx, "jdupont")
			if got.SMTPPassword != "new-password" {
				t.Errorf("password = %q, want the new one", got.SMTPPassword)
			}
			list, err := s.Operators(ctx)
			must(t, err)
			if len(list) != 1 || list[0].SMTPPassword != "new-password" {
				t.Errorf("Operators = %+v", list)
			}
			without := operator("nopass", "")
			must(t, s.PutOperator(ctx, without))
			if without.SMTPPasswordSet {
				t.Error("SMTPPasswordSet = true without a password")
			}
		})

		t.Run("GroupCreatedOnDemand", func(t *testing.T) {
			must(t, s.PutOperator(ctx, operator("mmartin", "ADV")))
			g, err := s.Group(ctx, "ADV")
			must(t, err)
			if g.Code != "ADV" {
				t.Errorf("group = %+v", g)
			}
			// The group keeps its name when another operator joins.
			must(t, s.PutGroup(ctx, &envoi.Group{Code: "ADV", Name: "Sales administration"}))
			must(t, s.PutOperator(ctx, operator("plegrand", "ADV")))
			g, _ = s.Group(ctx, "ADV")
			if g.Name != "Sales administration" {
				t.Errorf("group name = %q", g.Name)
			}
			got, _ := s.Operator(ctx, "plegrand")
			if got.Group != "ADV" {
				t.Errorf("operator group = %q", got.Group)
			}
			groups, err := s.Groups(ctx)
			must(t, err)
			if len(groups) != 1 {
				t.Errorf("Groups = %v", groups)
			}
		})

		t.Run("ErrDeleteGroupWithOperators", func(t *testing.T) {
			wantField(t, s.DeleteGroup(ctx, "ADV"), envoi.EInvalidInput, "code")
			must(t, s.PutGroup(ctx, &envoi.Group{Code: "EMPTY"}))
			must(t, s.DeleteGroup(ctx, "EMPTY"))
			wantCode(t, s.DeleteGroup(ctx, "EMPTY"), envoi.ENotFound)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, tt := range []struct {
				name  string
				o     *envoi.Operator
				field string
			}{
				{"Code", &envoi.Operator{Code: "-x"}, "code"},
				{"Email", &envoi.Operator{Code: "x", Email: "not an address"}, "email"},
				{"EmailInjection", &envoi.Operator{Code: "x", Email: "a@b.example\r\nBcc: c@d.example"}, "email"},
				{"Group", &envoi.Operator{Code: "x", Group: "a b"}, "group"},
				{"Language", &envoi.Operator{Code: "x", Language: "it"}, "language"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					wantField(t, s.PutOperator(ctx, tt.o), envoi.EInvalidInput, tt.field)
				})
			}
			_, err := s.Operator(ctx, "x")
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("Delete", func(t *testing.T) {
			must(t, s.PutOperator(ctx, operator("leaving", "")))
			must(t, s.PutAuthFlow(ctx, m365Flow("M365-DEL", "leaving")))
			must(t, s.SaveToken(ctx, &envoi.Token{Flow: "M365-DEL", Operator: "leaving", AccessToken: "at", RefreshToken: "rt"}))
			must(t, s.DeleteOperator(ctx, "leaving"))
			_, err := s.Operator(ctx, "leaving")
			wantCode(t, err, envoi.ENotFound)
			_, err = s.Token(ctx, envoi.TokenKey{Flow: "M365-DEL", Operator: "leaving"})
			wantCode(t, err, envoi.ENotFound)
			f, err := s.AuthFlow(ctx, "M365-DEL")
			must(t, err)
			if len(f.Operators) != 0 {
				t.Errorf("flow still lists %v", f.Operators)
			}
			wantCode(t, s.DeleteOperator(ctx, "leaving"), envoi.ENotFound)
		})
	})
}

func TestAuthFlows(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		for _, o := range []*envoi.Operator{operator("jdupont", ""), operator("mmartin", "ADV"), operator("plegrand", "ADV"), operator("alone", "")} {
			must(t, s.PutOperator(ctx, o))
		}

		t.Run("Preset", func(t *testing.T) {
			f := m365Flow("M365", "jdupont")
			secretValue := f.ClientSecret
			must(t, s.PutAuthFlow(ctx, f))
			got, err := s.AuthFlow(ctx, "M365")
			must(t, err)
			p := envoi.Presets()[envoi.PresetMicrosoft365]
			if got.Scope != p.Scope || got.AuthURL != p.AuthURL || got.TokenURL != p.TokenURL || got.SMTP != p.SMTP || got.RatePerMinute != 30 {
				t.Errorf("preset not applied: %+v", got)
			}
			if got.ClientSecret != secretValue || !got.ClientSecretSet || got.ServiceAccountKeySet {
				t.Errorf("secret = %q set=%v", got.ClientSecret, got.ClientSecretSet)
			}
			if !slices.Equal(got.Operators, []string{"jdupont"}) || len(got.Groups) != 0 || got.MaxAttachmentsMB != 25 {
				t.Errorf("operators %v groups %v", got.Operators, got.Groups)
			}
			if r := got.Resolved(); r.TokenURL != "https://login.microsoftonline.com/forterro.onmicrosoft.com/oauth2/v2.0/token" {
				t.Errorf("resolved token URL = %q", r.TokenURL)
			}

			// Saved again without the secret: the stored one stays.
			f2 := m365Flow("M365", "jdupont")
			f2.ClientSecret = ""
			f2.Name = "Renamed"
			must(t, s.PutAuthFlow(ctx, f2))
			if !f2.ClientSecretSet {
				t.Error("ClientSecretSet = false after a put keeping the secret")
			}
			got, _ = s.AuthFlow(ctx, "M365")
			if got.ClientSecret != secretValue || got.Name != "Renamed" {
				t.Errorf("after a put without secret: secret %q name %q", got.ClientSecret, got.Name)
			}
		})

		t.Run("Gmail", func(t *testing.T) {
			f := &envoi.AuthFlow{Code: "GMAIL", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "id.apps.googleusercontent.com", ClientSecret: "GOCSPX-secret", Groups: []string{"ADV"}}
			must(t, s.PutAuthFlow(ctx, f))
			got, err := s.AuthFlow(ctx, "GMAIL")
			must(t, err)
			if got.SMTP.Host != "smtp.gmail.com" || got.Scope != "https://mail.google.com/" || !slices.Equal(got.Groups, []string{"ADV"}) {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("ServiceAccountKey", func(t *testing.T) {
			f := &envoi.AuthFlow{Code: "GSA", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, Grant: envoi.GrantJWTBearer,
				ServiceAccountKey: `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----x"}`,
				GenericMailbox:    envoi.GenericMailbox{Enabled: true, Email: "adv@forterro.example"}}
			must(t, s.PutAuthFlow(ctx, f))
			f.ServiceAccountKey = "" // kept, so still valid
			must(t, s.PutAuthFlow(ctx, f))
			got, err := s.AuthFlow(ctx, "GSA")
			must(t, err)
			if !strings.Contains(got.ServiceAccountKey, "service_account") || !got.ServiceAccountKeySet || !got.GenericMailbox.Enabled {
				t.Errorf("got %+v", got)
			}
			must(t, s.DeleteAuthFlow(ctx, "GSA"))
		})

		t.Run("FlowForOperator", func(t *testing.T) {
			f, err := s.FlowForOperator(ctx, "jdupont")
			must(t, err)
			if f.Code != "M365" || f.ClientSecret == "" {
				t.Errorf("direct: flow %q", f.Code)
			}
			f, err = s.FlowForOperator(ctx, "mmartin")
			must(t, err)
			if f.Code != "GMAIL" {
				t.Errorf("through group: flow %q, want GMAIL", f.Code)
			}
			_, err = s.FlowForOperator(ctx, "alone")
			e := wantCode(t, err, envoi.ENoFlowForOperator)
			if e.Details["operator"] != "alone" {
				t.Errorf("details = %v", e.Details)
			}
			_, err = s.FlowForOperator(ctx, "ghost")
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("ErrOperatorInTwoFlowsDirectly", func(t *testing.T) {
			err := s.PutAuthFlow(ctx, smtpFlow("SMTP", []string{"alone", "jdupont"}, nil))
			e := wantField(t, err, envoi.EInvalidFlowData, "operators")
			if e.Details["flow"] != "M365" || !strings.Contains(e.Message, "M365") || !strings.Contains(e.Message, "jdupont") {
				t.Errorf("error %v does not name the other flow M365 and the operator", e)
			}
			_, err = s.AuthFlow(ctx, "SMTP")
			wantCode(t, err, envoi.ENotFound) // nothing half-written
			if f, _ := s.FlowForOperator(ctx, "alone"); f != nil {
				t.Errorf("alone was assigned to %s", f.Code)
			}
		})

		t.Run("ErrOperatorInGroupOfOtherFlow", func(t *testing.T) {
			// mmartin is in ADV, which is in GMAIL.
			err := s.PutAuthFlow(ctx, smtpFlow("SMTP", []string{"mmartin"}, nil))
			e := wantField(t, err, envoi.EInvalidFlowData, "operators")
			if e.Details["flow"] != "GMAIL" || !strings.Contains(e.Message, "ADV") {
				t.Errorf("error %v does not name flow GMAIL through group ADV", e)
			}
		})

		t.Run("ErrGroupMemberInOtherFlow", func(t *testing.T) {
			must(t, s.PutOperator(ctx, operator("jdupont", "COMPTA")))
			err := s.PutAuthFlow(ctx, smtpFlow("SMTP", nil, []string{"COMPTA"}))
			e := wantField(t, err, envoi.EInvalidFlowData, "groups")
			if e.Details["flow"] != "M365" || !strings.Contains(e.Message, "jdupont") {
				t.Errorf("error %v does not name jdupont's flow M365", e)
			}
		})

		t.Run("ErrGroupInTwoFlows", func(t *testing.T) {
			err := s.PutAuthFlow(ctx, smtpFlow("SMTP", nil, []string{"ADV"}))
			e := wantField(t, err, envoi.EInvalidFlowData, "groups")
			if e.Details["flow"] != "GMAIL" {
				t.Errorf("error %v does not name GMAIL", e)
			}
		})

		t.Run("ErrOperatorMovesIntoGroupOfOtherFlow", func(t *testing.T) {
			// jdupont is directly in M365; ADV is in GMAIL.
			err := s.PutOperator(ctx, operator("jdupont", "ADV"))
			e := wantField(t, err, envoi.EInvalidFlowData, "group")
			if e.Details["flow"] != "GMAIL" || !strings.Contains(e.Message, "M365") {
				t.Errorf("error %v", e)
			}
			got, _ := s.Operator(ctx, "jdupont")
			if got.Group != "COMPTA" {
				t.Errorf("group changed to %q despite the error", got.Group)
			}
		})

		t.Run("SameFlowDirectAndGroup", func(t *testing.T) {
			// plegrand is in ADV; listing them directly in GMAIL too is one flow.
			f := &envoi.AuthFlow{Code: "GMAIL", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "id.apps.googleusercontent.com",
				Groups: []string{"ADV"}, Operators: []string{"plegrand", "plegrand"}}
			must(t, s.PutAuthFlow(ctx, f))
			got, _ := s.AuthFlow(ctx, "GMAIL")
			if !slices.Equal(got.Operators, []string{"plegrand"}) || got.ClientSecret != "GOCSPX-secret" {
				t.Errorf("got operators %v secret %q", got.Operators, got.ClientSecret)
			}
		})

		t.Run("ErrNothingHalfWritten", func(t *testing.T) {
			before, err := s.AuthFlow(ctx, "M365")
			must(t, err)
			f := m365Flow("M365", "jdupont", "mmartin") // mmartin is GMAIL's through ADV
			f.Name = "Changed"
			f.ClientSecret = "changed-secret"
			wantField(t, s.PutAuthFlow(ctx, f), envoi.EInvalidFlowData, "operators")
			after, _ := s.AuthFlow(ctx, "M365")
			if after.Name != before.Name || after.ClientSecret != before.ClientSecret || !slices.Equal(after.Operators, before.Operators) {
				t.Errorf("a failed put changed the flow: before %+v after %+v", before, after)
			}
		})

		t.Run("ErrUnknownMembers", func(t *testing.T) {
			e := wantField(t, s.PutAuthFlow(ctx, smtpFlow("SMTP", []string{"ghost"}, nil)), envoi.EInvalidFlowData, "operators")
			if e.Details["operator"] != "ghost" {
				t.Errorf("details %v", e.Details)
			}
			e = wantField(t, s.PutAuthFlow(ctx, smtpFlow("SMTP", nil, []string{"NOGROUP"})), envoi.EInvalidFlowData, "groups")
			if e.Details["group"] != "NOGROUP" {
				t.Errorf("details %v", e.Details)
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, tt := range []struct {
				name  string
				edit  func(f *envoi.AuthFlow)
				field string
			}{
				{"Code", func(f *envoi.AuthFlow) { f.Code = "a/b" }, "code"},
				{"Kind", func(f *envoi.AuthFlow) { f.Kind = "ntlm" }, "kind"},
				{"UnknownPreset", func(f *envoi.AuthFlow) { f.Preset = "yahoo" }, "preset"},
				{"MissingClientID", func(f *envoi.AuthFlow) { f.ClientID = "" }, "client_id"},
				{"MissingTenant", func(f *envoi.AuthFlow) { f.Tenant = "" }, "tenant"},
				{"ScopeWithoutOfflineAccess", func(f *envoi.AuthFlow) { f.Scope = "https://outlook.office.com/SMTP.Send" }, "scope"},
				{"Port", func(f *envoi.AuthFlow) { f.SMTP.Port = 70000 }, "smtp.port"},
				{"Security", func(f *envoi.AuthFlow) { f.SMTP.Security = "ssl3" }, "smtp.security"},
				{"GenericMailbox", func(f *envoi.AuthFlow) { f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "nope"} }, "generic_mailbox.email"},
				{"MaxAttachments", func(f *envoi.AuthFlow) { f.MaxAttachmentsMB = -1 }, "max_attachments_mb"},
				{"OperatorCode", func(f *envoi.AuthFlow) { f.Operators = []string{"a b"} }, "operators"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					f := m365Flow("BAD")
					tt.edit(f)
					wantField(t, s.PutAuthFlow(ctx, f), envoi.EInvalidFlowData, tt.field)
				})
			}
			_, err := s.AuthFlow(ctx, "BAD")
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("List", func(t *testing.T) {
			flows, err := s.AuthFlows(ctx)
			must(t, err)
			var codes []string
			for _, f := range flows {
				codes = append(codes, f.Code)
			}
			if !slices.Equal(codes, []string{"GMAIL", "M365"}) {
				t.Fatalf("AuthFlows = %v", codes)
			}
			if !slices.Equal(flows[0].Groups, []string{"ADV"}) || !slices.Equal(flows[1].Operators, []string{"jdupont"}) || flows[1].ClientSecret == "" {
				t.Errorf("flows = %+v", flows)
			}
		})

		t.Run("MoveOperator", func(t *testing.T) {
			// Out of M365 first, then into a new flow.
			f, _ := s.AuthFlow(ctx, "M365")
			f.Operators = nil
			must(t, s.PutAuthFlow(ctx, f))
			must(t, s.PutAuthFlow(ctx, smtpFlow("SMTP", []string{"jdupont"}, nil)))
			got, err := s.FlowForOperator(ctx, "jdupont")
			must(t, err)
			if got.Code != "SMTP" || got.Kind != envoi.KindSMTPBasic {
				t.Errorf("flow = %+v", got)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			must(t, s.SaveToken(ctx, &envoi.Token{Flow: "SMTP", Operator: "jdupont", AccessToken: "x"}))
			must(t, s.DeleteAuthFlow(ctx, "SMTP"))
			_, err := s.AuthFlow(ctx, "SMTP")
			wantCode(t, err, envoi.ENotFound)
			_, err = s.Token(ctx, envoi.TokenKey{Flow: "SMTP", Operator: "jdupont"})
			wantCode(t, err, envoi.ENotFound)
			_, err = s.FlowForOperator(ctx, "jdupont")
			wantCode(t, err, envoi.ENoFlowForOperator)
			wantCode(t, s.DeleteAuthFlow(ctx, "SMTP"), envoi.ENotFound)
			// A group in a flow cannot be deleted.
			wantField(t, s.DeleteGroup(ctx, "ADV"), envoi.EInvalidInput, "code")
		})
	})
}

func TestDocumentFlows(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)

		t.Run("Catalogue", func(t *testing.T) {
			flows, err := s.DocumentFlows(ctx)
			must(t, err)
			byCode := map[string]*envoi.DocumentFlow{}
			for _, d := range flows {
				byCode[d.Code] = d
				if !d.Builtin || d.Name == "" || len(d.Keywords) == 0 || d.Keywords[0] != "SOCIETE" {
					t.Errorf("%s: %+v", d.Code, d)
				}
				if err := d.Validate(); err != nil {
					t.Errorf("%s: %v", d.Code, err)
				}
			}
			want := []string{"BL", "FACTURE_CLIENT", "AVOIR_CLIENT", "DEVIS_CLIENT", "DEVIS_RELANCE", "C_CMD_ARC", "APPEL_OFFRE",
				"F_CMD_ENVOI", "F_CMD_RELANCE", "F_CMD_LST_REL", "S_CMD_ENVOI", "S_CMD_RELANCE", "S_CMD_LST_REL", "GED_DIFFUSION",
				"NC_DIFFUSION", "NC_RELANCE", "NC_CREATION", "EVT_DIFFUSION", "EVT_RELANCE", "REVUE_CONTRAT_VALIDATION",
				"CLIENT_CREATION", "ARTICLE_CREATION", "APPRO_PARTIEL", "ETAT_DIFF", "DEM_HA_CREE", "FAI_CREE",
				"PASSWORD_RECOVERY", "DOCUMENTS_BANCAIRES", "RETENCIONES", "CONSENT_REQUIRED"}
			if len(flows) != len(want) {
				t.Errorf("%d flows, want %d", len(flows), len(want))
			}
			for _, c := range want {
				if byCode[c] == nil {
					t.Errorf("flow %s missing", c)
				}
			}
			bl := byCode["BL"]
			if bl == nil || !slices.Equal(bl.Keywords, []string{"SOCIETE", "ID_BL", "CLIENT", "DATE"}) || bl.Report != "delivery_note" || bl.Name != "Delivery note" {
				t.Errorf("BL = %+v", bl)
			}
			for code, report := range map[string]string{"FACTURE_CLIENT": "invoice", "AVOIR_CLIENT": "credit_note", "DEVIS_CLIENT": "quote",
				"DEVIS_RELANCE": "quote", "C_CMD_ARC": "order_ack", "F_CMD_ENVOI": "supplier_order", "F_CMD_RELANCE": "supplier_order_reminder", "NC_DIFFUSION": ""} {
				if d := byCode[code]; d == nil || d.Report != report {
					t.Errorf("%s report = %+v, want %q", code, d, report)
				}
			}
			if d := byCode["RETENCIONES"]; d == nil || !slices.Equal(d.Keywords, []string{"SOCIETE", "ID_RETENCION", "PROVEEDOR", "DATE"}) {
				t.Errorf("RETENCIONES = %+v", d)
			}
		})

		t.Run("Custom", func(t *testing.T) {
			d := &envoi.DocumentFlow{Code: "RELEVE", Name: "Account statement", Keywords: []string{"SOCIETE", "CLIENT", "SOCIETE"}, Builtin: true}
			must(t, s.PutDocumentFlow(ctx, d))
			got, err := s.DocumentFlow(ctx, "RELEVE")
			must(t, err)
			if got.Builtin || !slices.Equal(got.Keywords, []string{"SOCIETE", "CLIENT"}) {
				t.Errorf("got %+v (a flow the admin adds is never built in)", got)
			}
			must(t, s.DeleteDocumentFlow(ctx, "RELEVE"))
			_, err = s.DocumentFlow(ctx, "RELEVE")
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("BuiltinEditable", func(t *testing.T) {
			d, _ := s.DocumentFlow(ctx, "BL")
			d.Name = "Bon de livraison"
			d.Keywords = append(d.Keywords, "TRANSPORTEUR")
			must(t, s.PutDocumentFlow(ctx, d))
			got, _ := s.DocumentFlow(ctx, "BL")
			if !got.Builtin || got.Name != "Bon de livraison" || !got.HasKeyword("TRANSPORTEUR") {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("ErrDeleteBuiltin", func(t *testing.T) {
			wantField(t, s.DeleteDocumentFlow(ctx, "BL"), envoi.EInvalidInput, "code")
			if _, err := s.DocumentFlow(ctx, "BL"); err != nil {
				t.Errorf("BL: %v", err)
			}
			wantCode(t, s.DeleteDocumentFlow(ctx, "NOPE"), envoi.ENotFound)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			wantField(t, s.PutDocumentFlow(ctx, &envoi.DocumentFlow{Code: "bad code"}), envoi.EInvalidInput, "code")
			wantField(t, s.PutDocumentFlow(ctx, &envoi.DocumentFlow{Code: "X", Keywords: []string{"lower"}}), envoi.EInvalidInput, "keywords")
		})

		t.Run("ErrDropKeywordInUse", func(t *testing.T) {
			must(t, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]"}))
			d, _ := s.DocumentFlow(ctx, "BL")
			d.Keywords = []string{"SOCIETE"}
			e := wantField(t, s.PutDocumentFlow(ctx, d), envoi.EUnknownKeyword, "keywords")
			if e.Details["keyword"] != "ID_BL" {
				t.Errorf("details %v", e.Details)
			}
			got, _ := s.DocumentFlow(ctx, "BL")
			if !got.HasKeyword("ID_BL") {
				t.Error("the keyword was dropped despite the error")
			}
		})
	})
}

func TestMailSettings(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := s.MailSetting(ctx, "BL")
			e := wantCode(t, err, envoi.EMailSettingNotFound)
			if e.Details["document_flow"] != "BL" || e.Remedy == "" {
				t.Errorf("error %+v", e)
			}
			wantCode(t, s.DeleteMailSetting(ctx, "BL"), envoi.EMailSettingNotFound)
		})

		t.Run("OK", func(t *testing.T) {
			ms := &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]", Body: "Bonjour,\n\nVeuillez trouver le BL [ID_BL].", ReadReceipt: true, CopyToSender: true}
			must(t, s.PutMailSetting(ctx, ms))
			got, err := s.MailSetting(ctx, "BL")
			must(t, err)
			if got.Subject != ms.Subject || got.Body != ms.Body || got.Priority != envoi.PriorityNormal || !got.ReadReceipt || !got.CopyToSender {
				t.Errorf("got %+v", got)
			}
			must(t, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "FACTURE_CLIENT", Subject: "Facture [ID_FACTURE]", Priority: envoi.PriorityHigh}))
			all, err := s.MailSettings(ctx)
			must(t, err)
			var list []*envoi.MailSetting // without the seeded CONSENT_REQUIRED
			for _, m := range all {
				if m.DocumentFlow != "CONSENT_REQUIRED" {
					list = append(list, m)
				}
			}
			if len(all) != 3 || len(list) != 2 || list[0].DocumentFlow != "BL" || list[1].Priority != envoi.PriorityHigh {
				t.Errorf("MailSettings = %+v", list)
			}
			must(t, s.DeleteMailSetting(ctx, "FACTURE_CLIENT"))
			_, err = s.MailSetting(ctx, "FACTURE_CLIENT")
			wantCode(t, err, envoi.EMailSettingNotFound)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			e := wantField(t, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "Facture [ID_FACTURE]"}), envoi.EUnknownKeyword, "subject")
			if e.Details["keyword"] != "ID_FACTURE" {
				t.Errorf("details %v", e.Details)
			}
			wantField(t, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Priority: "urgent"}), envoi.EInvalidInput, "priority")
			wantCode(t, s.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "NOPE"}), envoi.EDocumentFlowNotFound)
			got, _ := s.MailSetting(ctx, "BL")
			if got.Subject != "[SOCIETE] : Envoi du BL : [ID_BL]" {
				t.Errorf("a refused put changed the setting: %+v", got)
			}
		})
	})
}

func TestFileNameRules(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		_, err := s.FileNameRule(ctx, "BL")
		wantCode(t, err, envoi.ENotFound)

		r := &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "BL_[ID_BL]_[CLIENT]", Archive: true, FileType: "BL"}
		must(t, s.PutFileNameRule(ctx, r))
		got, err := s.FileNameRule(ctx, "BL")
		must(t, err)
		if got.Pattern != r.Pattern || !got.Archive || got.FileType != "BL" {
			t.Errorf("got %+v", got)
		}
		list, err := s.FileNameRules(ctx)
		must(t, err)
		if len(list) != 1 {
			t.Errorf("FileNameRules = %v", list)
		}
		wantField(t, s.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "[ID_FACTURE]"}), envoi.EUnknownKeyword, "pattern")
		wantField(t, s.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: strings.Repeat("x", 256)}), envoi.EInvalidInput, "pattern")
		wantCode(t, s.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "NOPE"}), envoi.EDocumentFlowNotFound)

		// The rule goes with a document flow the admin deletes.
		must(t, s.PutDocumentFlow(ctx, &envoi.DocumentFlow{Code: "TMP", Keywords: []string{"X"}}))
		must(t, s.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "TMP", Pattern: "[X]"}))
		must(t, s.DeleteDocumentFlow(ctx, "TMP"))
		_, err = s.FileNameRule(ctx, "TMP")
		wantCode(t, err, envoi.ENotFound)

		must(t, s.DeleteFileNameRule(ctx, "BL"))
		wantCode(t, s.DeleteFileNameRule(ctx, "BL"), envoi.ENotFound)
	})
}

func TestArchivedDocuments(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		var ids []string
		for i := range 3 {
			d := &envoi.ArchivedDocument{EntityType: "BL", EntityID: "12345", DocumentFlow: "BL", MessageID: "msg_x", FileName: fmt.Sprintf("BL_12345_%d.pdf", i),
				FileType: "BL", ContentType: "application/pdf", Size: 1234, SHA256: strings.Repeat("ab", 32)}
			must(t, s.PutArchivedDocument(ctx, d))
			if !strings.HasPrefix(d.ID, "arc_") || len(d.ID) != 30 {
				t.Errorf("ID = %q", d.ID)
			}
			ids = append(ids, d.ID)
			clk.Advance(time.Second)
		}
		must(t, s.PutArchivedDocument(ctx, &envoi.ArchivedDocument{EntityType: "BL", EntityID: "99999", FileName: "other.pdf"}))
		list, err := s.ArchivedDocuments(ctx, "BL", "12345")
		must(t, err)
		if len(list) != 3 || list[0].ID != ids[0] || list[2].ID != ids[2] || list[1].Size != 1234 || list[1].SHA256 != strings.Repeat("ab", 32) {
			t.Errorf("ArchivedDocuments = %+v", list)
		}
		got, err := s.ArchivedDocument(ctx, ids[1])
		must(t, err)
		if got.FileName != "BL_12345_1.pdf" || !got.CreatedAt.Equal(list[1].CreatedAt) {
			t.Errorf("got %+v", got)
		}
		none, err := s.ArchivedDocuments(ctx, "FACTURE", "1")
		must(t, err)
		if none == nil || len(none) != 0 {
			t.Errorf("no documents: got %v, want an empty list", none)
		}
		_, err = s.ArchivedDocument(ctx, "arc_nope")
		wantCode(t, err, envoi.ENotFound)
		wantField(t, s.PutArchivedDocument(ctx, &envoi.ArchivedDocument{EntityType: "BL", FileName: "x.pdf"}), envoi.EInvalidInput, "entity_id")
		wantField(t, s.PutArchivedDocument(ctx, &envoi.ArchivedDocument{ID: ids[0], EntityType: "BL", EntityID: "1", FileName: "x.pdf"}), envoi.EConflict, "id")
	})
}

func TestAPIKeys(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		hash := func(key string) []byte {
			h := make([]byte, 32)
			copy(h, key)
			return h
		}
		k := &envoi.APIKey{Name: "erp-production", Prefix: "envoi_ab", Hash: hash("key-1")}
		must(t, s.CreateAPIKey(ctx, k))
		if !strings.HasPrefix(k.ID, "key_") || k.CreatedAt.IsZero() {
			t.Errorf("key = %+v", k)
		}
		got, err := s.APIKeyByHash(ctx, hash("key-1"))
		must(t, err)
		if got.ID != k.ID || got.Name != "erp-production" || got.Prefix != "envoi_ab" || !got.LastUsed.Equal(clk.Now().Truncate(time.Microsecond)) {
			t.Errorf("got %+v", got)
		}
		_, err = s.APIKeyByHash(ctx, hash("key-2"))
		wantCode(t, err, envoi.EUnauthorized)
		wantCode(t, s.CreateAPIKey(ctx, &envoi.APIKey{Name: "dup", Hash: hash("key-1")}), envoi.EConflict)
		wantField(t, s.CreateAPIKey(ctx, &envoi.APIKey{Name: "short", Hash: []byte("abc")}), envoi.EInvalidInput, "hash")
		wantField(t, s.CreateAPIKey(ctx, &envoi.APIKey{Hash: hash("key-3")}), envoi.EInvalidInput, "name")

		clk.Advance(time.Hour)
		must(t, s.RevokeAPIKey(ctx, k.ID))
		revokedAt := clk.Now()
		clk.Advance(time.Hour)
		must(t, s.RevokeAPIKey(ctx, k.ID)) // again: nothing changes
		_, err = s.APIKeyByHash(ctx, hash("key-1"))
		wantCode(t, err, envoi.EUnauthorized)
		list, err := s.APIKeys(ctx)
		must(t, err)
		if len(list) != 1 || !list[0].RevokedAt.Equal(revokedAt.Truncate(time.Microsecond)) {
			t.Errorf("APIKeys = %+v", list)
		}
		wantCode(t, s.RevokeAPIKey(ctx, "key_nope"), envoi.ENotFound)
	})
}
