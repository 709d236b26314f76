package envoi_test

import (
	"regexp"
	"testing"
	"time"

	"envoi"
)

// TestSendingIdentity: the one rule of who sends, shared by compose, the
// worker and the flow test.
func TestSendingIdentity(t *testing.T) {
	op := &envoi.Operator{Code: "jdupont", Email: "Jerome <jdupont@forterro.test>", SMTPPassword: "pw"}
	generic := envoi.GenericMailbox{Enabled: true, Email: "ventes@forterro.test"}
	for _, tt := range []struct {
		name          string
		flow          envoi.AuthFlow
		op            *envoi.Operator
		key, username string
		password      string
		code          string
	}{
		{name: "OAuthOperator", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2}, op: op,
			key: "jdupont", username: "jdupont@forterro.test"},
		{name: "OAuthGeneric", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2, GenericMailbox: generic}, op: op,
			username: "ventes@forterro.test"},
		{name: "AppOnly", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2, Grant: envoi.GrantClientCredentials, GenericMailbox: generic},
			username: "ventes@forterro.test"},
		{name: "Basic", flow: envoi.AuthFlow{Code: "relay", Kind: envoi.KindSMTPBasic}, op: op,
			key: "jdupont", username: "jdupont@forterro.test", password: "pw"},
		// The generic address, the operator's password: what the worker and
		// the flow test did (compose alone gave no password).
		{name: "BasicGeneric", flow: envoi.AuthFlow{Code: "relay", Kind: envoi.KindSMTPBasic, GenericMailbox: generic}, op: op,
			username: "ventes@forterro.test", password: "pw"},
		{name: "ErrNoEmail", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2}, op: &envoi.Operator{Code: "x"},
			code: envoi.EInvalidInput},
		{name: "ErrNoOperator", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2}, code: envoi.EInvalidInput},
		{name: "ErrGenericAddress", flow: envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2, GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "nope"}}, op: op,
			code: envoi.EInvalidFlowData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := envoi.SendingIdentity(&tt.flow, tt.op)
			if tt.code != "" {
				if envoi.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := envoi.TokenKey{Flow: tt.flow.Code, Operator: tt.key}
			if id.Key != want || id.Username != tt.username || id.Password != tt.password || id.Flow != &tt.flow {
				t.Errorf("got key %+v user %q password set %v, want %+v %q %v", id.Key, id.Username, id.Password != "", want, tt.username, tt.password != "")
			}
			if got := envoi.SendingKey(&tt.flow, "jdupont"); got != want {
				t.Errorf("SendingKey = %+v, want %+v", got, want)
			}
		})
	}
}

// TestMessageIDFor: one format for the Message-IDs of every message.
func TestMessageIDFor(t *testing.T) {
	id := envoi.NewID("msg_")
	if len(id) != 30 || id == envoi.NewID("msg_") {
		t.Fatalf("NewID = %q", id)
	}
	if got, want := envoi.MessageIDFor(id, "example.com"), "<"+id[4:]+"@example.com>"; got != want {
		t.Errorf("MessageIDFor = %q, want %q", got, want)
	}
	if got, want := envoi.MessageIDFor(id, ""), "<"+id[4:]+"@envoi.invalid>"; got != want {
		t.Errorf("MessageIDFor = %q, want %q", got, want)
	}
}

// TestNewIDSortsByTime: ids minted later sort after, the random part
// keeps those of one millisecond apart, and the characters are those of
// RFC 4648's base32 alphabet in lower case.
func TestNewIDSortsByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		if i%500 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		id := envoi.NewID("msg_")
		if !regexp.MustCompile(`^msg_[a-z2-7]{26}$`).MatchString(id) {
			t.Fatalf("NewID = %q", id)
		}
		if seen[id] {
			t.Fatalf("NewID gave %q twice", id)
		}
		seen[id] = true
		// The first 9 characters hold 45 bits of the time: never going
		// back.
		if id[:13] < prev {
			t.Fatalf("NewID = %q after %q: its time sorts before", id, prev)
		}
		prev = id[:13]
	}
}

func TestSendRequestDocument(t *testing.T) {
	base := func() envoi.SendRequest {
		return envoi.SendRequest{DocumentFlow: "BL", Operator: "op", To: []string{"a@example.org"}}
	}
	r := base()
	r.Attachments = []envoi.Attachment{{Filename: "a.pdf"}, {Filename: "b.pdf", Document: true}}
	if err := r.Validate(); err != nil {
		t.Errorf("one document: %v", err)
	}
	r.Attachments[0].Document = true
	if e := envoi.AsError(r.Validate()); e.Code != envoi.EInvalidInput || e.Details["field"] != "attachments[1].document" {
		t.Errorf("two documents: %v %v, want invalid_input on attachments[1].document", e.Code, e.Details)
	}
	r = base()
	r.Report = &envoi.ReportRequest{}
	r.Attachments = []envoi.Attachment{{Filename: "b.pdf", Document: true}}
	if e := envoi.AsError(r.Validate()); e.Code != envoi.EInvalidInput || e.Details["field"] != "attachments[0].document" {
		t.Errorf("a document with a report: %v %v, want invalid_input on attachments[0].document", e.Code, e.Details)
	}
}
