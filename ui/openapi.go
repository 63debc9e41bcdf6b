package ui

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPI is the reference of the whole local API (openapi.yaml), served
// at GET /api/openapi.yaml and checked against the routes by
// openapi_test.go.
//
//go:embed openapi.yaml
var openAPI []byte

func (s *Server) openAPISpec(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
	return nil
}

// OpenAPI returns the reference (openapi.yaml) as served.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Routes lists the API's route patterns ("METHOD /path/{param}"), as
// registered.
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }
