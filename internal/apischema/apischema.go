// Package apischema checks the answers of envoi's HTTP API against its
// OpenAPI description: each status a route answers must be documented for
// that route, and a JSON answer must match its schema, every field of it
// documented. It implements the part of JSON Schema (2020-12, as OpenAPI
// 3.1 uses it) that envoi's description uses: $ref, type (with "null"),
// properties, required, additionalProperties, items, enum, allOf, oneOf
// and anyOf. Tests use it; the envoi binary does not link it.
package apischema

import (
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Doc is a parsed OpenAPI description.
type Doc struct {
	root  map[string]any
	paths []route
}

type route struct {
	template string
	segments []string
	ops      map[string]any
}

// Parse reads an OpenAPI description in YAML.
func Parse(b []byte) (*Doc, error) {
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	d := &Doc{root: root}
	paths, _ := root["paths"].(map[string]any)
	for p, v := range paths {
		ops, _ := v.(map[string]any)
		d.paths = append(d.paths, route{template: p, segments: strings.Split(strings.Trim(p, "/"), "/"), ops: ops})
	}
	// Literal segments win over parameters (/v1/messages/preview before
	// /v1/messages/{id}), as the server's router does.
	sort.Slice(d.paths, func(i, j int) bool { return literals(d.paths[i]) > literals(d.paths[j]) })
	return d, nil
}

func literals(r route) int {
	n := 0
	for _, s := range r.segments {
		if !strings.HasPrefix(s, "{") {
			n++
		}
	}
	return n
}

// Route returns the template of the documented path that path matches, ""
// when none does.
func (d *Doc) Route(path string) string {
	if r := d.match(path); r != nil {
		return r.template
	}
	return ""
}

func (d *Doc) match(path string) *route {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range d.paths {
		r := &d.paths[i]
		if len(r.segments) != len(segs) {
			continue
		}
		ok := true
		for k, s := range r.segments {
			if !strings.HasPrefix(s, "{") && s != segs[k] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// Check checks one answer of the API: method and path of the request (the
// query is ignored), the status, the Content-Type and the body. It returns
// every difference with the description, nil when there is none.
func (d *Doc) Check(method, path string, status int, contentType string, body []byte) error {
	r := d.match(path)
	if r == nil {
		return fmt.Errorf("%s %s: no such path in the description", method, path)
	}
	op, _ := r.ops[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return fmt.Errorf("%s %s: the description has no %s for %s", method, path, method, r.template)
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)]
	if !ok {
		resp, ok = responses["default"]
	}
	if !ok && strings.HasPrefix(r.template, "/v1/") && d.common(status) {
		return nil
	}
	if !ok {
		var have []string
		for k := range responses {
			have = append(have, k)
		}
		sort.Strings(have)
		return fmt.Errorf("%s %s answered %d, which the description of %s %s does not list (it lists %s)", method, path, status, method, r.template, strings.Join(have, ", "))
	}
	respMap, _ := d.resolve(resp).(map[string]any)
	content, _ := respMap["content"].(map[string]any)
	media, _, _ := mime.ParseMediaType(contentType)
	if media != "application/json" || len(content) == 0 {
		return nil
	}
	jsonContent, _ := content["application/json"].(map[string]any)
	if jsonContent == nil {
		return fmt.Errorf("%s %s answered %d in JSON, which the description gives in %v", method, path, status, keys(content))
	}
	schema, ok := jsonContent["schema"]
	if !ok {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s answered %d with JSON that does not parse: %v", method, path, status, err)
	}
	var errs []string
	d.validate(schema, v, "", &errs)
	if len(errs) > 0 {
		return fmt.Errorf("%s %s answered %d not as described:\n  %s", method, path, status, strings.Join(errs, "\n  "))
	}
	return nil
}

// common reports whether status is one the description's
// x-common-responses says any route under /v1 may answer.
func (d *Doc) common(status int) bool {
	c, _ := d.root["x-common-responses"].(map[string]any)
	for _, s := range c["statuses"].([]any) {
		if n, ok := s.(int); ok && n == status {
			return true
		}
	}
	return false
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve follows $ref until a node that is not one.
func (d *Doc) resolve(n any) any {
	for range 32 {
		m, ok := n.(map[string]any)
		if !ok {
			return n
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return n
		}
		n = d.pointer(ref)
	}
	return n
}

func (d *Doc) pointer(ref string) any {
	var n any = d.root
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := n.(map[string]any)
		n = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(p)]
	}
	return n
}

// validate appends to errs each way v does not match schema, at the JSON
// path at.
func (d *Doc) validate(schema, v any, at string, errs *[]string) {
	s, _ := d.resolve(schema).(map[string]any)
	if s == nil {
		return
	}
	where := at
	if where == "" {
		where = "(the answer)"
	}
	if _, ok := s["allOf"]; ok {
		// Members are checked together: an object's fields may come from
		// any member, nested allOf included.
		d.validate(d.flatten(s), v, at, errs)
		return
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[key].([]any); ok {
			var first []string
			for i, alt := range alts {
				var sub []string
				d.validate(alt, v, at, &sub)
				if len(sub) == 0 {
					return
				}
				if i == 0 {
					first = sub
				}
			}
			*errs = append(*errs, fmt.Sprintf("%s matches none of the %s alternatives (the first says: %s)", where, key, strings.Join(first, "; ")))
			return
		}
	}
	if types := typesOf(s["type"]); len(types) > 0 && !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
		*errs = append(*errs, fmt.Sprintf("%s is %s %s, the description says %s", where, article(jsonType(v)), jsonType(v), strings.Join(types, " or ")))
		return
	}
	if enum, ok := s["enum"].([]any); ok && v != nil {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			*errs = append(*errs, fmt.Sprintf("%s is %v, not one of the description's %v", where, v, enum))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				*errs = append(*errs, fmt.Sprintf("%s lacks %s, which the description requires", where, r))
			}
		}
		additional, hasAdditional := s["additionalProperties"]
		for k, fv := range x {
			if ps, ok := props[k]; ok {
				d.validate(ps, fv, at+"."+k, errs)
				continue
			}
			switch {
			case hasAdditional && additional == false:
				*errs = append(*errs, fmt.Sprintf("%s.%s is not in the description", at, k))
			case hasAdditional && additional != true:
				d.validate(additional, fv, at+"."+k, errs)
			case !hasAdditional && props != nil:
				// A described object lists every field it has.
				*errs = append(*errs, fmt.Sprintf("%s.%s is not in the description", at, k))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				d.validate(items, e, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
}

// flatten merges a schema's allOf members, recursively, into one schema
// whose properties are all of theirs.
func (d *Doc) flatten(s map[string]any) map[string]any {
	merged := map[string]any{}
	props := map[string]any{}
	add := func(m map[string]any) {
		for k, x := range m {
			switch k {
			case "allOf":
			case "properties":
				for pk, pv := range x.(map[string]any) {
					props[pk] = pv
				}
			default:
				merged[k] = x
			}
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			m, _ := d.resolve(sub).(map[string]any)
			add(d.flatten(m))
		}
	}
	add(s)
	if len(props) > 0 {
		merged["properties"] = props
	}
	return merged
}

func typesOf(t any) []string {
	switch x := t.(type) {
	case string:
		return []string{x}
	case []any:
		return asStrings(x)
	}
	return nil
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func article(t string) string {
	if strings.ContainsAny(t[:1], "aeiou") {
		return "an"
	}
	return "a"
}
