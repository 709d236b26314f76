package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode: the envoi binary ships no test code. Its
// package graph (what go build links) holds neither the testing package,
// nor httptest, nor go-smtp's server, nor envoi's own test helpers; the
// bench's sink and token endpoint are internal/benchpeer.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "envoi/cmd/envoi").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps answered %d packages, expected the whole graph:\n%s", len(deps), out)
	}
	for _, pkg := range deps {
		switch {
		case pkg == "testing", strings.HasPrefix(pkg, "testing/"),
			pkg == "net/http/httptest",
			strings.HasPrefix(pkg, "github.com/emersion/go-smtp"),
			strings.HasPrefix(pkg, "envoi/internal/testmail"),
			strings.HasPrefix(pkg, "envoi/internal/pgtest"),
			strings.HasPrefix(pkg, "envoi/internal/interop"),
			strings.HasPrefix(pkg, "envoi/internal/testimage"):
			t.Errorf("the envoi binary links %s", pkg)
		}
	}
}
