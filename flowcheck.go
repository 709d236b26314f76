package envoi

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
