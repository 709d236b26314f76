package sqlstore_test

import (
	"context"
	"testing"

	"envoi"
)

// TestRepointDropsSecrets checks that a change of where a flow sends its
// credentials drops the stored secrets bound to the old place, unless the
// change gives them again, and keeps them for any other change.
func TestRepointDropsSecrets(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)

		passwordSet := func(t *testing.T, code string) bool {
			t.Helper()
			o, err := s.Operator(ctx, code)
			must(t, err)
			if o.SMTPPasswordSet != (o.SMTPPassword != "") {
				t.Fatalf("operator %s: SMTPPasswordSet %v with password %q", code, o.SMTPPasswordSet, o.SMTPPassword)
			}
			return o.SMTPPasswordSet
		}
		withPassword := func(code, group string) *envoi.Operator {
			o := operator(code, group)
			o.SMTPPassword = "pw-of-" + code
			return o
		}
		hasToken := func(t *testing.T, flow, op string) bool {
			t.Helper()
			_, err := s.Token(ctx, envoi.TokenKey{Flow: flow, Operator: op})
			if err != nil && envoi.ErrorCode(err) != envoi.ENotFound {
				t.Fatal(err)
			}
			return err == nil
		}

		t.Run("OAuth", func(t *testing.T) {
			must(t, s.PutOperator(ctx, operator("oa1", "")))
			put := func(t *testing.T, change func(f *envoi.AuthFlow)) *envoi.AuthFlow {
				t.Helper()
				f := m365Flow("OA", "oa1")
				f.ClientSecret = ""
				change(f)
				must(t, s.PutAuthFlow(ctx, f))
				return f
			}
			consent := func(t *testing.T) {
				t.Helper()
				for _, op := range []string{"oa1", ""} {
					must(t, s.SaveToken(ctx, &envoi.Token{Flow: "OA", Operator: op, AccessToken: "at-" + op, RefreshToken: "rt-" + op,
						Expiry: clk.Now(), ConsentedAt: clk.Now()}))
				}
				must(t, s.PutOAuthState(ctx, &envoi.OAuthState{State: "pending-" + randomToken(8), Flow: "OA", Operator: "oa1", Verifier: "v", ExpiresAt: clk.Now().Add(envoi.OAuthStateTTL)}))
			}
			for _, tc := range []struct {
				name        string
				change      func(f *envoi.AuthFlow)
				keepsSecret bool
				keepsTokens bool
			}{
				{"NameOnly", func(f *envoi.AuthFlow) { f.Name = "Renamed" }, true, true},
				{"AuthURL", func(f *envoi.AuthFlow) { f.AuthURL = "https://login.example.org/authorize" }, true, true},
				{"TokenURL", func(f *envoi.AuthFlow) { f.TokenURL = "http://127.0.0.1:9/token" }, false, false},
				{"Tenant", func(f *envoi.AuthFlow) { f.Tenant = "other.onmicrosoft.com" }, false, false},
				{"ClientID", func(f *envoi.AuthFlow) { f.ClientID = "attacker-app" }, false, false},
				{"SMTPHost", func(f *envoi.AuthFlow) {
					f.SMTP = envoi.SMTPServer{Host: "127.0.0.2", Port: 587, Security: envoi.SecuritySTARTTLS}
				}, true, false},
				{"TokenURLWithSecret", func(f *envoi.AuthFlow) {
					f.TokenURL, f.ClientSecret = "http://127.0.0.1:9/token", "given-again"
				}, true, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					must(t, s.PutAuthFlow(ctx, m365Flow("OA", "oa1")))
					consent(t)
					stored, err := s.AuthFlow(ctx, "OA")
					must(t, err)

					f := put(t, tc.change)
					got, err := s.AuthFlow(ctx, "OA")
					must(t, err)
					if got.ClientSecretSet != tc.keepsSecret || f.ClientSecretSet != tc.keepsSecret || (got.ClientSecret != "") != tc.keepsSecret {
						t.Errorf("client secret set %v (answer %v), want %v", got.ClientSecretSet, f.ClientSecretSet, tc.keepsSecret)
					}
					if tc.keepsSecret && tc.name != "TokenURLWithSecret" && got.ClientSecret != stored.ClientSecret {
						t.Errorf("client secret changed by %s", tc.name)
					}
					for _, op := range []string{"oa1", ""} {
						if hasToken(t, "OA", op) != tc.keepsTokens {
							t.Errorf("token of %q kept = %v, want %v", op, !tc.keepsTokens, tc.keepsTokens)
						}
					}
					if (f.Dropped.Code != "") == (tc.keepsSecret && tc.keepsTokens) {
						t.Errorf("Dropped = %+v", f.Dropped)
					}
				})
			}
		})

		t.Run("ServiceAccountKey", func(t *testing.T) {
			f := &envoi.AuthFlow{Code: "SA", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, Grant: envoi.GrantJWTBearer,
				ServiceAccountKey: `{"type":"service_account"}`, GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "adv@forterro.example"}}
			must(t, s.PutAuthFlow(ctx, f))
			f.ServiceAccountKey, f.TokenURL = "", "http://127.0.0.1:9/token"
			wantField(t, s.PutAuthFlow(ctx, f), envoi.EInvalidFlowData, "service_account_key")
			f.ServiceAccountKey = `{"type":"service_account","again":true}`
			must(t, s.PutAuthFlow(ctx, f))
		})

		t.Run("SMTP", func(t *testing.T) {
			for _, o := range []*envoi.Operator{withPassword("sm1", ""), withPassword("sm2", "SMG"), withPassword("sm3", "")} {
				must(t, s.PutOperator(ctx, o))
			}
			base := func() *envoi.AuthFlow {
				f := smtpFlow("SM", []string{"sm1"}, []string{"SMG"})
				f.SMTP = envoi.SMTPServer{Host: "Relay.Example.org", Port: 587, Security: envoi.SecuritySTARTTLS}
				return f
			}
			for _, tc := range []struct {
				name   string
				change func(f *envoi.AuthFlow)
				keeps  bool
			}{
				{"Same", func(f *envoi.AuthFlow) { f.Name = "Renamed"; f.SMTP.Host = "relay.example.ORG" }, true},
				{"Host", func(f *envoi.AuthFlow) { f.SMTP.Host = "127.0.0.1" }, false},
				{"Port", func(f *envoi.AuthFlow) { f.SMTP.Port = 2525 }, false},
				{"Security", func(f *envoi.AuthFlow) { f.SMTP.Security = envoi.SecurityNone }, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					must(t, s.PutAuthFlow(ctx, base()))
					for _, o := range []*envoi.Operator{withPassword("sm1", ""), withPassword("sm2", "SMG")} {
						must(t, s.PutOperator(ctx, o))
					}
					f := base()
					tc.change(f)
					must(t, s.PutAuthFlow(ctx, f))
					for _, op := range []string{"sm1", "sm2"} {
						if got := passwordSet(t, op); got != tc.keeps {
							t.Errorf("password of %s kept = %v, want %v", op, got, tc.keeps)
						}
					}
					if (f.Dropped.Code != "") == tc.keeps {
						t.Errorf("Dropped = %+v", f.Dropped)
					}
					if !passwordSet(t, "sm3") {
						t.Error("the password of an operator in no flow was dropped")
					}
				})
			}
		})

		t.Run("OperatorMoved", func(t *testing.T) {
			// A password given in no flow binds to the first flow joined.
			must(t, s.PutOperator(ctx, withPassword("mv", "")))
			a := smtpFlow("MVA", []string{"mv"}, nil)
			must(t, s.PutAuthFlow(ctx, a))
			if !passwordSet(t, "mv") {
				t.Fatal("joining a first flow dropped the password")
			}
			// Out of flow A, then into flow B on another server: two
			// requests, the password still does not follow.
			a.Operators = nil
			must(t, s.PutAuthFlow(ctx, a))
			if !passwordSet(t, "mv") {
				t.Fatal("leaving a flow dropped the password")
			}
			b := smtpFlow("MVB", []string{"mv"}, nil)
			b.SMTP.Host = "127.0.0.9"
			must(t, s.PutAuthFlow(ctx, b))
			if passwordSet(t, "mv") {
				t.Error("the password followed its operator to another SMTP server")
			}
			// Given again in flow B, it is bound to B.
			must(t, s.PutOperator(ctx, withPassword("mv", "")))
			must(t, s.PutAuthFlow(ctx, b))
			if !passwordSet(t, "mv") {
				t.Error("a password given in flow B was dropped by B")
			}
			must(t, s.DeleteAuthFlow(ctx, "MVB"))
		})

		t.Run("OperatorJoinsGroup", func(t *testing.T) {
			must(t, s.PutOperator(ctx, withPassword("gj", "")))
			must(t, s.PutAuthFlow(ctx, smtpFlow("GJA", []string{"gj"}, nil)))
			must(t, s.PutAuthFlow(ctx, smtpFlow("GJA", nil, nil)))
			must(t, s.PutOperator(ctx, operator("gjx", "GJG")))
			other := smtpFlow("GJB", nil, []string{"GJG"})
			other.SMTP.Host = "127.0.0.10"
			must(t, s.PutAuthFlow(ctx, other))
			// Through the group, into a flow on another server.
			o := operator("gj", "GJG")
			must(t, s.PutOperator(ctx, o))
			if o.SMTPPasswordSet || passwordSet(t, "gj") {
				t.Error("the password followed its operator into a group of another flow")
			}
			// Moving with a new password keeps the new one.
			o = withPassword("gj", "GJG")
			must(t, s.PutOperator(ctx, o))
			if !o.SMTPPasswordSet || !passwordSet(t, "gj") {
				t.Error("a password given with the move was dropped")
			}
		})
	})
}
