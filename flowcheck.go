package envoi

import "context"

// TestStep is one step of a flow's Test action: its name, whether it
// passed, and what was seen (the server's or provider's text on failure).
type TestStep struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// TestResult is the outcome of a flow's Test action for one operator.
type TestResult struct {
	OK    bool       `json:"ok"`
	Steps []TestStep `json:"steps"`
	Error *Error     `json:"-"`
}

// TestProgress hears a flow test as it runs: each step once as it begins
// (running true, Detail saying what it does, e.g. "connecting to
// smtp.example.com:587") and once as it ends (running false, the step as
// TestResult will list it). The admin UI streams it to the page.
type TestProgress func(step TestStep, running bool)

type testProgressKey struct{}

// WithTestProgress returns ctx carrying p, which the flow test's parts
// (the oauth package's checks, the smtp package's probe) call.
func WithTestProgress(ctx context.Context, p TestProgress) context.Context {
	return context.WithValue(ctx, testProgressKey{}, p)
}

// ReportTestStep tells the TestProgress of ctx, if any, about step.
func ReportTestStep(ctx context.Context, step TestStep, running bool) {
	if p, ok := ctx.Value(testProgressKey{}).(TestProgress); ok && p != nil {
		p(step, running)
	}
}
