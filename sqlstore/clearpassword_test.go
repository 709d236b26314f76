package sqlstore_test

import (
	"context"
	"testing"

	"envoi"
)

// TestClearSMTPPassword: an empty password keeps the stored one,
// ClearSMTPPassword removes it, and a password given with it is refused.
func TestClearSMTPPassword(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		o := operator("cp", "")
		o.SMTPPassword = "S3cret"
		must(t, s.PutOperator(ctx, o))
		stored := func() *envoi.Operator {
			t.Helper()
			got, err := s.Operator(ctx, "cp")
			must(t, err)
			return got
		}
		o = operator("cp", "")
		must(t, s.PutOperator(ctx, o))
		if got := stored(); got.SMTPPassword != "S3cret" || !got.SMTPPasswordSet {
			t.Fatalf("an empty password did not keep the stored one: %+v", got)
		}
		o = operator("cp", "")
		o.SMTPPassword, o.ClearSMTPPassword = "other", true
		if err := s.PutOperator(ctx, o); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Fatalf("a password with ClearSMTPPassword: %v", err)
		}
		o = operator("cp", "")
		o.ClearSMTPPassword = true
		must(t, s.PutOperator(ctx, o))
		if o.SMTPPasswordSet {
			t.Error("PutOperator says the password is still set")
		}
		if got := stored(); got.SMTPPassword != "" || got.SMTPPasswordSet {
			t.Fatalf("ClearSMTPPassword kept the password: %+v", got)
		}
	})
}
