package apischema

import (
	"strings"
	"testing"
)

const spec = `
openapi: 3.1.0
x-common-responses: {statuses: [401]}
paths:
  /v1/things/{id}:
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}
        "404": {description: none}
  /v1/things/special:
    get:
      responses:
        "204": {description: nothing}
components:
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string}
        size: {type: integer}
        state: {type: string, enum: [new, old]}
        tags: {type: array, items: {type: string}}
        at: {type: [string, "null"]}
        extra: {type: object}
`

func TestCheck(t *testing.T) {
	d, err := Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		status int
		body   string
		want   string // "" when it matches
	}{
		{"/v1/things/1", 200, `{"id":"1","size":2,"state":"new","tags":["a"],"at":null,"extra":{"any":1}}`, ""},
		{"/v1/things/1?x=y", 404, ``, ""},
		{"/v1/things/1", 401, `{}`, ""},
		{"/v1/things/special", 204, ``, ""},
		{"/v1/things/special", 200, `{}`, "does not list"},
		{"/v1/things/1", 500, `{}`, "does not list"},
		{"/v1/things/1", 200, `{"size":2}`, "lacks id"},
		{"/v1/things/1", 200, `{"id":"1","colour":"red"}`, ".colour is not in the description"},
		{"/v1/things/1", 200, `{"id":1}`, ".id is an integer, the description says string"},
		{"/v1/things/1", 200, `{"id":"1","size":2.5}`, "the description says integer"},
		{"/v1/things/1", 200, `{"id":"1","state":"gone"}`, "not one of"},
		{"/v1/things/1", 200, `{"id":"1","tags":[1]}`, ".tags[0]"},
		{"/v1/nowhere", 200, `{}`, "no such path"},
	} {
		err := d.Check("GET", c.path, c.status, "application/json; charset=utf-8", []byte(c.body))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %d %s: %v", c.path, c.status, c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %d %s: %v, want an error with %q", c.path, c.status, c.body, err, c.want)
		}
	}
}
