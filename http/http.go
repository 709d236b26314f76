// Package http is envoi's HTTP side: the JSON API under /v1 for the ERP, the
// OAuth callback, health and metrics. The whole route table is in routes.go.
package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"envoi"
)

// Pinger reports whether the database answers; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server serves envoi's HTTP interfaces. Options are exported fields; Store
// is required, the rest have useful zero values.
type Server struct {
	Store  envoi.Store
	Pinger Pinger
	Logger *slog.Logger
	Now    func() time.Time
	// MaxBodyBytes bounds the body of the routes that take documents
	// (sends, previews, company logos, report templates; 413 beyond); 0
	// means 64 MiB. SmallBodyBytes bounds every other route's (0: 1 MiB).
	MaxBodyBytes   int64
	SmallBodyBytes int64
	// ReadTimeout is the time a request's body may take to arrive on most
	// routes (0: 30s), UploadTimeout on the routes that take or give
	// documents (0: 10m, a 25 MB attachment on a slow link). The answer
	// must be written within WriteTimeout after that (0: 2m).
	ReadTimeout   time.Duration
	UploadTimeout time.Duration
	WriteTimeout  time.Duration
	// PublicURL is where browsers reach envoi: with https, every answer
	// carries Strict-Transport-Security.
	PublicURL string
	// ComposeConcurrency bounds the sends and previews at work at once,
	// from the end of their body to their acceptance (0: 16 a core, at
	// least 32; DefaultComposeConcurrency). Beyond, a request whose body is
	// read waits its turn, first come first served, among at most
	// ComposeQueue others (0: 4 a turn) holding at most ComposeQueueBytes of
	// bodies (0: 64 MiB), for at most ComposeWait (0: 5s); a request that
	// finds no room, or no turn in time, is answered 503 unavailable with
	// Retry-After, nothing accepted. A client still sending its body holds
	// no turn.
	ComposeConcurrency int
	ComposeQueue       int
	ComposeQueueBytes  int64
	ComposeWait        time.Duration

	// Messages sends; without it the message routes answer 503.
	Messages Messages
	// Consent runs OAuth consent; Tester runs a flow's Test action.
	Consent Consent
	Tester  Tester
	// Archive reads archived documents' bytes.
	Archive ArchiveFiles
	// Archiver archives documents printed or exported (POST /v1/archive);
	// FileNames names them (POST /v1/file-names/{document_flow}/resolve).
	// Without them those routes answer 503.
	Archiver  Archiver
	FileNames FileNames
	// Reports checks and previews report templates.
	Reports Reports
	// Metrics serves GET /metrics (promhttp.Handler); nil answers 404.
	Metrics http.Handler
	// UI, when set, serves every path the API does not (the admin UI).
	UI http.Handler

	gateOnce sync.Once
	gate     *admission
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Server) maxBody() int64 {
	if s.MaxBodyBytes <= 0 {
		return 64 << 20
	}
	return s.MaxBodyBytes
}

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Remedy  string         `json:"remedy"`
	Details map[string]any `json:"details,omitempty"`
}

// writeError answers err as {"error": {code, message, remedy, details}} in
// the request's language. Only internal errors are logged, with their cause;
// their cause is never shown to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorStatus(w, r, err, 0)
}

func (s *Server) writeErrorStatus(w http.ResponseWriter, r *http.Request, err error, status int) {
	e := envoi.AsError(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if r.Context().Err() != nil {
			return // the client went away
		}
	}
	if e.Code == envoi.EInternal {
		s.logger().Error("http: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = envoi.Errorf(envoi.EInternal, "internal error")
	}
	if status == 0 {
		status = envoi.HTTPStatus(e.Code)
	}
	l := e.Localize(Language(r))
	writeJSON(w, status, errorBody{errorFields{Code: l.Code, Message: l.Message, Remedy: l.Remedy, Details: l.Details}})
}

// writeJSON answers v as JSON; an empty list is [] (never null), whatever
// the store returned.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []struct{}{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Language picks the language of r's answer: ?lang= when envoi speaks it,
// else what Accept-Language prefers (envoi.NegotiateLanguage), else English.
func Language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); envoi.KnownLanguage(l) {
		return l
	}
	return envoi.NegotiateLanguage(r.Header.Get("Accept-Language"), envoi.DefaultLanguage)
}

// decode reads a JSON object into v, refusing other values (a null would
// decode as an empty object), unknown fields, trailing data and bodies
// over the limit, each with a clear code. It uses the JSON v2 decoder: a
// send request's attachments are mostly base64, which v2 decodes about
// twice as fast as encoding/json (measured with envoi bench).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > s.maxBody() {
		refuseBody(w, r)
		return envoi.Errorf(envoi.ETooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, s.maxBody()).WithDetail("limit_bytes", s.maxBody())
	}
	return s.decodeJSON(http.MaxBytesReader(w, r.Body, s.maxBody()), r.ContentLength, v)
}

// decodeJSON reads the JSON object body, of size bytes (<= 0: unknown),
// into v.
func (s *Server) decodeJSON(body io.Reader, size int64, v any) error {
	_, err := s.decodeBody(body, size, v, false)
	return err
}

// decodeBody reads the JSON object body, of size bytes (<= 0: unknown),
// into v: readBody, then decodeRead.
func (s *Server) decodeBody(body io.Reader, size int64, v any, hold bool) (release func(), err error) {
	buf, err := s.readBody(body, size)
	if err != nil {
		return func() {}, err
	}
	return s.decodeRead(buf, v, hold)
}

// readBody reads body, of size bytes (<= 0: unknown), whole into a
// buffer of the pool. The body is read whole, then decoded: the
// decoder's one-buffer path is about 40% faster than its streaming one
// on a message carrying a 100 KB attachment, and allocates a sixth as
// much. On error the buffer is back in the pool.
func (s *Server) readBody(body io.Reader, size int64) (*[]byte, error) {
	buf := bodyBuffer(size)
	b := bytes.NewBuffer((*buf)[:0])
	_, err := b.ReadFrom(body)
	*buf = b.Bytes()
	if err != nil {
		putBodyBuffer(buf)
		return nil, decodeError(err, s.maxBody())
	}
	return buf, nil
}

// decodeRead decodes the JSON object in buf, a body readBody read, into
// v. The attachments' base64 text is not copied: v's attachments hold
// slices of the buffer (decodeAttachment). With hold, the caller returns
// the buffer to the pool by calling release once it no longer uses v's
// attachments; else a buffer that v holds is left to the garbage
// collector, and one it does not hold goes back to the pool. release is
// never nil.
func (s *Server) decodeRead(buf *[]byte, v any, hold bool) (release func(), err error) {
	aliased := false
	release = func() {}
	defer func() {
		switch {
		case hold && err == nil:
			release = func() { putBodyBuffer(buf) }
		case !aliased || err != nil:
			putBodyBuffer(buf)
		}
	}()
	first := bytes.TrimLeft(*buf, " \t\r\n")
	if len(first) > 0 && first[0] != '{' {
		return release, envoi.Errorf(envoi.EInvalidInput, "the body must be a JSON object")
	}
	var skeleton []byte
	var texts [][]byte
	req, isSend := v.(*envoi.SendRequest)
	if isSend {
		// Only a send request: decoded into anything else (a raw value,
		// a map), a placeholder would stay one.
		skeleton, texts = attachmentTexts(*buf)
	}
	keep := jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, a *envoi.Attachment) error {
		return decodeAttachment(dec, a, &aliased, texts)
	}))
	if skeleton != nil {
		if err := jsonv2.Unmarshal(skeleton, v, decodeOptions, keep); err == nil {
			return release, nil
		}
		// The error as the body itself gives it (offsets, values).
		texts = nil
		aliased = false
		*req = envoi.SendRequest{}
	}
	if err := jsonv2.Unmarshal(*buf, v, decodeOptions, keep); err != nil {
		return release, decodeError(err, s.maxBody())
	}
	return release, nil
}

// decodeOptions: unknown members are refused; names match whatever their
// case, as encoding/json matched them, but underscores count ("document_flow"
// or "Document_Flow", never "documentflow").
// Attachments keep their base64 text (decodeAttachment).
var decodeOptions = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true),
	attachmentUnmarshalers)

// bodyBuffers holds buffers of request bodies for reuse. Buffers over
// maxPooledBody are left to the garbage collector.
var bodyBuffers sync.Pool

const maxPooledBody = 4 << 20

// bodyBuffer returns an empty buffer with room for a body of n bytes (n
// <= 0: unknown).
func bodyBuffer(n int64) *[]byte {
	// bytes.Buffer.ReadFrom wants MinRead (512) bytes free before each
	// read, the last one (at the end of the body) included.
	want := int(max(n, 0)) + bytes.MinRead
	if p, _ := bodyBuffers.Get().(*[]byte); p != nil {
		if cap(*p) >= want {
			*p = (*p)[:0]
			return p
		}
	}
	b := make([]byte, 0, want)
	return &b
}

func putBodyBuffer(p *[]byte) {
	if cap(*p) <= maxPooledBody {
		bodyBuffers.Put(p)
	}
}

func decodeError(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	var syntaxErr *jsontext.SyntacticError
	var semErr *jsonv2.SemanticError
	var b64Err base64.CorruptInputError
	var late *bodyTimeout
	switch {
	case errors.As(err, &maxErr):
		return envoi.Errorf(envoi.ETooLarge, "the body is over %d bytes", maxErr.Limit).WithDetail("limit_bytes", maxErr.Limit)
	case errors.As(err, &late):
		return envoi.Errorf(envoi.EInvalidInput, "%s; send it again, faster or smaller", late.Error())
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &semErr) && !errors.As(err, &syntaxErr),
		errors.Is(err, io.EOF):
		return envoi.Errorf(envoi.EInvalidInput, "the body is empty or cut short; a JSON object is expected")
	case errors.As(err, &semErr):
		field := pointerField(string(semErr.JSONPointer))
		switch {
		case errors.Is(err, jsonv2.ErrUnknownName):
			return envoi.FieldError(envoi.EInvalidInput, field, "unknown field")
		case errors.As(err, &b64Err):
			return envoi.FieldError(envoi.EInvalidInput, field, "invalid base64")
		case semErr.GoType != nil:
			return envoi.FieldError(envoi.EInvalidInput, field, "expected %s%s", jsonTypeName(semErr.GoType), foundKind(semErr.JSONKind))
		}
		return envoi.FieldError(envoi.EInvalidInput, field, "invalid value%s", foundKind(semErr.JSONKind))
	case errors.As(err, &syntaxErr):
		return envoi.Errorf(envoi.EInvalidInput, "the body is not valid JSON (offset %d): %v", syntaxErr.ByteOffset, syntaxErr.Err)
	}
	return envoi.Errorf(envoi.EInvalidInput, "the body is not valid JSON: %v", err)
}

// jsonTypeName names the JSON value a field of Go type t takes, in the
// words of the API's documentation: an error never shows a Go type.
func jsonTypeName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "a time (RFC 3339, e.g. 2026-12-31T18:00:00Z)"
	}
	if t == reflect.TypeFor[[]byte]() {
		return "base64 text"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		switch e := t.Elem(); e.Kind() {
		case reflect.String:
			return "a list of strings"
		case reflect.Struct, reflect.Map:
			return "a list of objects"
		default:
			return "a list"
		}
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of string values"
		}
		return "an object"
	case reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

// foundKind says what kind of JSON value was found instead, "" when the
// decoder did not say.
func foundKind(k jsontext.Kind) string {
	switch k {
	case '"':
		return ", found a string"
	case '0':
		return ", found a number"
	case 't', 'f':
		return ", found true or false"
	case 'n':
		return ", found null"
	case '{':
		return ", found an object"
	case '[':
		return ", found a list"
	}
	return ""
}

// pointerField turns a JSON pointer ("/attachments/0/content_base64") into
// the field name the API's errors use ("attachments.0.content_base64").
func pointerField(p string) string {
	p = strings.TrimPrefix(p, "/")
	p = strings.NewReplacer("~1", "/", "~0", "~").Replace(strings.ReplaceAll(p, "/", "."))
	if p == "" {
		return "body"
	}
	return p
}

// decodePut reads the body of a PUT into v as decode does (unknown fields,
// wrong kinds and size refused), then lays it over current, the object as
// GET answers it (nil when there is none yet): a field the body leaves out
// keeps its stored value, nested objects (smtp, generic_mailbox) field by
// field, while a field given, null included, replaces it. GET's read-only
// fields (updated_at, *_set, warnings) are dropped on the way; secrets,
// which GET never shows, keep their value as before.
//
// A reset names fields that follow others: when the body changes one of
// its triggers (a flow's preset or transport), its fields are not kept
// from the stored object but left to the body, or to their defaults.
func (s *Server) decodePut(w http.ResponseWriter, r *http.Request, v any, current any, resets ...putReset) error {
	var raw jsontext.Value
	if err := s.decode(w, r, &raw); err != nil {
		return err
	}
	if err := jsonv2.Unmarshal(raw, v, decodeOptions); err != nil {
		return decodeError(err, s.maxBody())
	}
	if cv := reflect.ValueOf(current); !cv.IsValid() || cv.Kind() == reflect.Pointer && cv.IsNil() {
		return nil
	}
	var base, over map[string]any
	stored, err := jsonv2.Marshal(current)
	if err == nil {
		err = jsonv2.Unmarshal(stored, &base)
	}
	if err == nil {
		err = jsonv2.Unmarshal(raw, &over)
	}
	if err != nil {
		return fmt.Errorf("http: merge a PUT body onto the stored object: %w", err)
	}
	base, over = lowerKeys(base), lowerKeys(over)
	for _, rs := range resets {
		rs.apply(base, over)
	}
	merged, err := jsonv2.Marshal(mergeJSON(base, over))
	if err != nil {
		return fmt.Errorf("http: merge a PUT body onto the stored object: %w", err)
	}
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	if err := jsonv2.Unmarshal(merged, v, jsonv2.JoinOptions(decodeOptions, jsonv2.RejectUnknownMembers(false))); err != nil {
		return fmt.Errorf("http: merge a PUT body onto the stored object: %w", err)
	}
	return nil
}

// putReset drops Fields from the stored object when the body changes one
// of Triggers (see decodePut).
type putReset struct{ Triggers, Fields []string }

func (rs putReset) apply(base, over map[string]any) {
	for _, t := range rs.Triggers {
		if v, ok := over[t]; ok && fmt.Sprint(v) != fmt.Sprint(base[t]) {
			for _, f := range rs.Fields {
				delete(base, f)
			}
			return
		}
	}
}

// mergeJSON lays over onto base: objects member by member, anything else
// replaced.
func mergeJSON(base, over map[string]any) map[string]any {
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range over {
		if vo, ok := v.(map[string]any); ok {
			if bo, ok := base[k].(map[string]any); ok {
				base[k] = mergeJSON(bo, vo)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// lowerKeys lower-cases the member names of m and of the objects in it,
// so a body's "Name" replaces the stored "name" (decode matches names
// whatever their case).
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if o, ok := v.(map[string]any); ok {
			v = lowerKeys(o)
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

// stored returns what a PUT's lookup of the stored object found, nil when
// there is none yet (not found, or no mail setting for the flow), and the
// lookup's other errors.
func stored[T any](v *T, err error) (*T, error) {
	switch envoi.ErrorCode(err) {
	case "":
		return v, nil
	case envoi.ENotFound, envoi.EMailSettingNotFound:
		return nil, nil
	}
	return nil, err
}
