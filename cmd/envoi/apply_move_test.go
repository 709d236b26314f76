package main_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestApplyMovesOperators: one file moves an operator from one flow to
// another, whatever the flows' order, swaps two operators between flows,
// and moves one out of a flow the file does not name.
func TestApplyMovesOperators(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	dir := t.TempDir()
	apply := func(name, flows string) string {
		t.Helper()
		file := filepath.Join(dir, name)
		doc := "operators:\n  x: {name: X, email: x@example.com}\n  y: {name: Y, email: y@example.com}\nauth_flows:\n" + flows
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := e.RunCode("apply", "-f", file)
		if code != 0 {
			t.Fatalf("apply %s: exit %d\n%s", name, code, out)
		}
		return out
	}
	flow := func(code, port, ops string) string {
		return "  " + code + ": {kind: smtp_basic, smtp: {host: 127.0.0.1, port: " + port + ", security: none}, operators: [" + ops + "]}\n"
	}
	operatorsOf := func(code string) []string {
		var f struct {
			Operators []string `json:"operators"`
		}
		e.MustDo(200, "GET", "/v1/auth-flows/"+code, nil, &f)
		slices.Sort(f.Operators)
		return f.Operators
	}
	want := func(step string, a, b []string) {
		t.Helper()
		if got := operatorsOf("A"); !slices.Equal(got, a) {
			t.Errorf("%s: flow A has %v, want %v", step, got, a)
		}
		if got := operatorsOf("B"); !slices.Equal(got, b) {
			t.Errorf("%s: flow B has %v, want %v", step, got, b)
		}
	}
	apply("start.yaml", flow("A", "2525", "x")+flow("B", "2526", "y"))
	want("start", []string{"x"}, []string{"y"})
	out := apply("swap.yaml", flow("A", "2525", "y")+flow("B", "2526", "x"))
	want("swap", []string{"y"}, []string{"x"})
	if !strings.Contains(out, "operator x moves from flow A to flow B") || !strings.Contains(out, "operator y moves from flow B to flow A") {
		t.Errorf("apply does not say who moved:\n%s", out)
	}
	apply("back.yaml", flow("A", "2525", "x, y")+flow("B", "2526", ""))
	want("both to A", []string{"x", "y"}, nil)
	apply("onlyB.yaml", flow("B", "2526", "x"))
	want("x to B, A not in the file", []string{"y"}, []string{"x"})
}
