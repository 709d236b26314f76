package ui

import (
	"testing"
)

// TestStepDetailTranslated: the flow test's own texts are shown in the
// page's language with their names kept; a server's reply is left as is.
func TestStepDetailTranslated(t *testing.T) {
	cat, err := loadCatalogue(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, in, want string }{
		{"fr", "connected to smtp.example.com:587", "connecté à smtp.example.com:587"},
		{"es", "authenticated as ana@example.com with XOAUTH2", "autenticado como ana@example.com con XOAUTH2"},
		{"fr", "token of a@example.com valid until 2026-12-06 20:00 UTC (consented as b@example.com)", "jeton de a@example.com valable jusqu'au 2026-12-06 20:00 UTC (consented as b@example.com)"},
		{"es", `the test was cancelled during step "connect"`, "la prueba se canceló durante el paso «connect»"},
		{"fr", "no authentication: no SMTP password is stored, the server accepts by address", "pas d'authentification : aucun mot de passe SMTP enregistré, le serveur accepte selon l'adresse"},
		{"fr", "2.1.0 Sender OK", "2.1.0 Sender OK"},
		{"en", "connected to h:25", "connected to h:25"},
	} {
		if got := stepDetail(cat, c.lang, c.in); got != c.want {
			t.Errorf("%s %q = %q, want %q", c.lang, c.in, got, c.want)
		}
	}
}
