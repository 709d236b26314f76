package sqlstore

import (
	"context"
	"testing"

	"envoi"
)

// Flows stored before migration 00050 sent the client secret in the body
// and worked: the migration keeps them on client_secret_post; a basic SMTP
// flow has no method.
func TestMigrationTokenAuthMethod(t *testing.T) {
	ctx := context.Background()
	s, p := mustOpenAt(t, DialectSQLite)
	if _, err := p.UpTo(ctx, 40); err != nil {
		t.Fatal(err)
	}
	for _, row := range [][3]string{{"GEN", "oauth2", "generic"}, {"O365", "oauth2", "microsoft365"}, {"SMTP", "smtp_basic", ""}} {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_flows (code, kind, preset, updated_at) VALUES ($1, $2, $3, '2026-01-01T00:00:00Z')`, row[0], row[1], row[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]string{"GEN": envoi.TokenAuthPost, "O365": envoi.TokenAuthPost, "SMTP": ""} {
		f, err := s.AuthFlow(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if f.TokenAuthMethod != want || f.TokenAuthLearned != "" {
			t.Errorf("%s: got %q (learned %q), want %q", code, f.TokenAuthMethod, f.TokenAuthLearned, want)
		}
	}
}
