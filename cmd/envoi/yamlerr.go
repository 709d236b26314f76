package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	yamlUnknownField = regexp.MustCompile("^(line \\d+): field (.+) not found in type .+$")
	yamlWrongKind    = regexp.MustCompile("^(line \\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// yamlError rewrites the errors of decoding the YAML file path in the
// words of its documentation: an unknown key by its name, a value of the
// wrong kind by what was expected and found; never a Go type name.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := yamlUnknownField.FindStringSubmatch(e); m != nil {
			lines = append(lines, fmt.Sprintf("%s: unknown key %q", m[1], m[2]))
		} else if m := yamlWrongKind.FindStringSubmatch(e); m != nil {
			found := yamlTagName(m[2])
			if m[3] != "" {
				found += " (" + m[3] + ")"
			}
			lines = append(lines, fmt.Sprintf("%s: expected %s, found %s", m[1], goTypeWords(m[4]), found))
		} else {
			lines = append(lines, e)
		}
	}
	return fmt.Errorf("%s:\n  %s", path, strings.Join(lines, "\n  "))
}

// yamlTagName names a YAML node's tag.
func yamlTagName(tag string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!str":
		return "a text"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!null":
		return "nothing"
	}
	return "a value"
}

// goTypeWords names what a field of the Go type named t takes in YAML.
func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		if t == "[]string" {
			return "a list of texts"
		}
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a text"
	case t == "bool":
		return "true or false"
	case t == "time.Duration":
		return "a duration (e.g. 30s, 5m)"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping"
}
