package ui_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"weft/api"
)

const testDocID = "00112233445566778899aabbccddeeff"

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return spec
}

// The reference documents every route the server registers and no route
// it does not serve, and is served itself.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	spec := loadSpec(t)
	s, _ := newServer(t)
	var documented []string
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := s.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("openapi.yaml documents %s, which the server does not serve", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes registered: %v", len(served), served)
	}
	w := do(t, s, "GET", "/api/openapi.yaml", "")
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "openapi: 3.0.3") {
		t.Fatalf("GET /api/openapi.yaml: %d %.40q", w.Code, w.Body)
	}
}

// Real replies of the server validate against the reference's schemas,
// errors included.
func TestOpenAPIResponsesMatchSchemas(t *testing.T) {
	spec := loadSpec(t)
	s, fake := newServer(t)
	fake.Put(testDocID, "Notes 🧵", "hello")
	fake.SetRole(testDocID, api.RoleAdmin)
	check := func(method, path, pattern, body string, want int) []byte {
		t.Helper()
		w := do(t, s, method, path, body)
		if w.Code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body)
		}
		op := spec.Paths.Find(pattern).GetOperation(method)
		if op == nil {
			t.Fatalf("%s %s is not documented", method, pattern)
		}
		resp := op.Responses.Status(w.Code)
		if resp == nil {
			resp = op.Responses.Default()
		}
		mt := resp.Value.Content.Get("application/json")
		if mt == nil {
			t.Fatalf("%s %s %d: no JSON schema documented", method, pattern, w.Code)
		}
		var v any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if err := mt.Schema.Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s %d: the reply does not match its schema: %v\n%s", method, path, w.Code, err, w.Body)
		}
		return w.Body.Bytes()
	}
	check("GET", "/api/docs", "/api/docs", "", 200)
	created := check("POST", "/api/docs", "/api/docs", `{"title":"new"}`, 201)
	var info api.DocInfo
	json.Unmarshal(created, &info)
	check("PATCH", "/api/docs/"+info.ID, "/api/docs/{id}", `{"title":"renamed"}`, 200)
	check("POST", "/api/docs/"+testDocID+"/edits", "/api/docs/{id}/edits", `{"edits":[{"pos":0,"ins":"x"}]}`, 200)
	check("GET", "/api/docs/"+testDocID+"/status", "/api/docs/{id}/status", "", 200)
	check("GET", "/api/docs/"+testDocID+"/members", "/api/docs/{id}/members", "", 200)
	check("POST", "/api/docs/"+testDocID+"/invites", "/api/docs/{id}/invites", `{"role":"write","label":"Ana"}`, 201)
	check("GET", "/api/status", "/api/status", "", 200)
	check("GET", "/api/peers", "/api/peers", "", 200)
	// Errors: a bad request, an unknown document, a route this backend
	// lacks.
	check("POST", "/api/docs/"+testDocID+"/edits", "/api/docs/{id}/edits", `{"edits":[]}`, 400)
	check("GET", "/api/docs/ffffffffffffffffffffffffffffffff/status", "/api/docs/{id}/status", "", 404)
	check("DELETE", "/api/docs/"+testDocID+"?confirm="+testDocID, "/api/docs/{id}", "", 404)
}
