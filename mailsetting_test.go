package envoi_test

import (
	"reflect"
	"testing"

	"envoi"
)

func TestMailLanguage(t *testing.T) {
	for in, want := range map[string]string{"fr": "fr", "FR": "fr", "fr-CH": "fr", "es-419": "es", "de": "de", "zh-Hant-TW": "zh", "gsw": "gsw"} {
		if got, err := envoi.MailLanguage(in); err != nil || got != want {
			t.Errorf("MailLanguage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "f", "français", "fr_FR", "fr-", "12", "fr-toolongsubtag", "en GB"} {
		if _, err := envoi.MailLanguage(in); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Errorf("MailLanguage(%q): %v, want invalid_input", in, err)
		}
	}
}

func TestMailSettingChoices(t *testing.T) {
	for _, c := range []struct {
		company, language string
		want              [][2]string
	}{
		{"FORTERRO", "fr", [][2]string{{"FORTERRO", "fr"}, {"FORTERRO", ""}, {"", "fr"}, {"", ""}}},
		{"FORTERRO", "", [][2]string{{"FORTERRO", ""}, {"", ""}}},
		{"", "es", [][2]string{{"", "es"}, {"", ""}}},
		{"", "", [][2]string{{"", ""}}},
	} {
		if got := envoi.MailSettingChoices(c.company, c.language); !reflect.DeepEqual(got, c.want) {
			t.Errorf("MailSettingChoices(%q, %q) = %v, want %v", c.company, c.language, got, c.want)
		}
	}
}
