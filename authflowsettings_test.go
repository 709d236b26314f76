package envoi_test

import (
	"reflect"
	"strings"
	"testing"

	"envoi"
)

// TestAuthFlowSettings checks that AuthFlowSettings, the one description
// of a flow that the JSON API and `envoi apply` both read, holds every
// field of AuthFlow an administrator sets, under AuthFlow's JSON name and
// the same YAML name, and that AuthFlow copies each into the flow.
func TestAuthFlowSettings(t *testing.T) {
	// Set by the store or the provider, or write-only secrets taken
	// apart by each front-end.
	notSet := map[string]bool{"Code": true, "ClientSecret": true, "ClientSecretSet": true, "ServiceAccountKey": true,
		"ServiceAccountKeySet": true, "TokenAuthLearned": true, "UpdatedAt": true, "Dropped": true}
	flow := reflect.TypeFor[envoi.AuthFlow]()
	settings := reflect.TypeFor[envoi.AuthFlowSettings]()
	name := func(tag string) string { n, _, _ := strings.Cut(tag, ","); return n }
	var s envoi.AuthFlowSettings
	sv := reflect.ValueOf(&s).Elem()
	for i := range flow.NumField() {
		ff := flow.Field(i)
		if notSet[ff.Name] {
			continue
		}
		sf, ok := settings.FieldByName(ff.Name)
		if !ok {
			t.Errorf("AuthFlow.%s is not in AuthFlowSettings", ff.Name)
			continue
		}
		if got, want := name(sf.Tag.Get("json")), name(ff.Tag.Get("json")); got != want {
			t.Errorf("AuthFlowSettings.%s: json name %q, want AuthFlow's %q", ff.Name, got, want)
		}
		if got, want := name(sf.Tag.Get("yaml")), name(ff.Tag.Get("json")); got != want {
			t.Errorf("AuthFlowSettings.%s: yaml name %q, want the API's %q", ff.Name, got, want)
		}
		if sf.Type != ff.Type {
			t.Errorf("AuthFlowSettings.%s is a %s, AuthFlow's a %s", ff.Name, sf.Type, ff.Type)
		}
	}
	// Fill every setting with a value of its own, then look for each in the flow.
	for i := range settings.NumField() {
		fv := sv.Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("v" + settings.Field(i).Name)
		case reflect.Int:
			fv.SetInt(int64(100 + i))
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]string{"v" + settings.Field(i).Name}))
		}
	}
	s.SMTP = envoi.SMTPServer{Host: "h", Port: 2525, Security: "tls"}
	s.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "e@example.com"}
	f := reflect.ValueOf(s.AuthFlow("CODE", "cs", "sak")).Elem()
	for i := range settings.NumField() {
		n := settings.Field(i).Name
		if got, want := f.FieldByName(n).Interface(), sv.Field(i).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("AuthFlow().%s = %v, want %v", n, got, want)
		}
	}
	got := s.AuthFlow("CODE", "cs", "sak")
	if got.Code != "CODE" || got.ClientSecret != "cs" || got.ServiceAccountKey != "sak" {
		t.Errorf("AuthFlow(CODE, cs, sak) = code %q, secret %q, key %q", got.Code, got.ClientSecret, got.ServiceAccountKey)
	}
}
