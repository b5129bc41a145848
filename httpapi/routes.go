package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const collectionPath = "/core/v2/endpoints"

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string // net/http pattern path
	handler func(s *Server) http.HandlerFunc
}

// Routes is the route table: every route the server answers. The OpenAPI
// document describes exactly these (httpapi/openapi_test.go checks it).
var Routes = []Route{
	{"GET", "/healthz", func(s *Server) http.HandlerFunc { return s.healthz }},
	{"GET", "/readyz", func(s *Server) http.HandlerFunc { return s.readyz }},
	{"GET", "/core/v2/openapi.json", func(s *Server) http.HandlerFunc { return serveOpenAPI }},
	{"GET", "/metrics", func(s *Server) http.HandlerFunc {
		return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}).ServeHTTP
	}},
	{"POST", collectionPath, func(s *Server) http.HandlerFunc { return s.authenticated(s.createEndpoint) }},
	{"GET", collectionPath, func(s *Server) http.HandlerFunc { return s.authenticated(s.listEndpoints) }},
	{"GET", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.getEndpoint) }},
	{"PATCH", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.patchEndpoint) }},
	{"PUT", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.putEndpoint) }},
	{"DELETE", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.deleteEndpoint) }},
}

// routes builds the router from the table. Patterns without a method catch
// the other methods of a known path (405); "/" catches unknown paths (404).
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range Routes {
		mux.HandleFunc(r.Method+" "+r.Pattern, r.handler(s))
	}
	mux.HandleFunc(collectionPath, methodNotAllowed("GET, POST"))
	mux.HandleFunc(collectionPath+"/{endpoint_sid}", methodNotAllowed("GET, PATCH, PUT, DELETE"))
	mux.HandleFunc("/", s.notFound)
	return mux
}
