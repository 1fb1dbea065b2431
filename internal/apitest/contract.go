package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/assethooks/assethooks/api"
)

// Contract sends requests to a harness and holds each request and answer to
// the server's OpenAPI document (GET /openapi.json), with kin-openapi's
// validator: JSON Schema 2020-12, as OpenAPI 3.1 has it.
type Contract struct {
	h      *Harness
	Doc    *openapi3.T // the loaded document
	router routers.Router
	mu     sync.Mutex
	seen   map[string]int
}

// LoadOpenAPI loads and validates the server's OpenAPI document.
func LoadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	b, err := api.OpenAPI("test")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("openapi: load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi: the document is not valid: %v", err)
	}
	return doc
}

// Contract returns a contract checker for h.
func (h *Harness) Contract() *Contract {
	h.T.Helper()
	doc := LoadOpenAPI(h.T)
	r, err := legacy.NewRouter(doc)
	if err != nil {
		h.T.Fatal(err)
	}
	return &Contract{h: h, Doc: doc, router: r, seen: map[string]int{}}
}

// Call is one request of a contract test and what the test expects of it.
type Call struct {
	Method, Path, Key string
	// Body is sent as is when a string or []byte, else encoded as JSON.
	Body any
	// Status is the status the answer must have.
	Status int
	// Rejects says that the document itself refuses the request (a wrong
	// type, a value outside an enum, no key, malformed JSON); otherwise the
	// request must be valid by the document, even when the server refuses
	// it for a reason no schema can say (an unknown id, a condition that
	// does not compile).
	Rejects bool
}

// keyRequired makes the document's apiKey scheme hold when a key is sent.
func keyRequired(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.RequestValidationInput.Request.Header.Get("X-API-KEY") == "" {
		return errors.New("no X-API-KEY")
	}
	return nil
}

// Do sends the call, fails the test unless the status is the expected one,
// the request is valid by the document (or refused by it, as the call
// says) and the answer (status, headers, body) matches its schema; it
// returns the answer.
func (c *Contract) Do(call Call) Response {
	c.h.T.Helper()
	t := c.h.T
	var body []byte
	switch b := call.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = j
	}
	var sent any
	if call.Body != nil {
		sent = body
	}
	r := c.h.Do(call.Method, call.Path, call.Key, sent)
	name := call.Method + " " + call.Path
	if r.Status != call.Status {
		t.Errorf("%s: status %d, want %d: %s", name, r.Status, call.Status, r.Body)
	}

	req := httptest.NewRequest(call.Method, call.Path, bytes.NewReader(body))
	if call.Key != "" {
		req.Header.Set("X-API-KEY", call.Key)
	}
	if call.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: the OpenAPI document has no such operation: %v", name, err)
		return r
	}
	c.mu.Lock()
	c.seen[strings.ToUpper(route.Method)+" "+route.Path]++
	c.mu.Unlock()
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: keyRequired, MultiError: true}}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case call.Rejects && err == nil:
		t.Errorf("%s: the document accepts this request, the test says it must refuse it: %s", name, body)
	case !call.Rejects && err != nil:
		t.Errorf("%s: the request is not valid by the document: %v\n%s", name, err, body)
	}
	// The answer is validated against the request's operation whatever the
	// request was; a fresh request so that its body can be read again.
	vreq := httptest.NewRequest(call.Method, call.Path, bytes.NewReader(body))
	vreq.Header = req.Header.Clone()
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
		Status:                 r.Status, Header: r.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	rin.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Errorf("%s: the %d answer does not match the document: %v\n%s", name, r.Status, err, r.Body)
	}
	return r
}

// Unseen lists the document's operations ("GET /api/v2/…") that no call
// of this contract reached.
func (c *Contract) Unseen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for path, item := range c.Doc.Paths.Map() {
		for method := range item.Operations() {
			if op := strings.ToUpper(method) + " " + path; c.seen[op] == 0 {
				out = append(out, op)
			}
		}
	}
	sort.Strings(out)
	return out
}
