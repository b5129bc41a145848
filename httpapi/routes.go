package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

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
	{"GET", "/{$}", func(s *Server) http.HandlerFunc { return s.root }},
	{"GET", "/healthz", func(s *Server) http.HandlerFunc { return s.healthz }},
	{"GET", "/readyz", func(s *Server) http.HandlerFunc { return s.readyz }},
	{"GET", "/core/v2/openapi.json", func(s *Server) http.HandlerFunc { return serveOpenAPI }},
	{"GET", "/core/v2/docs", func(s *Server) http.HandlerFunc { return serveDocs }},
	{"GET", "/core/v2/docs/{asset}", func(s *Server) http.HandlerFunc { return s.serveDocsAsset }},
	{"GET", "/metrics", func(s *Server) http.HandlerFunc {
		return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}).ServeHTTP
	}},
	{"GET", collectionPath, func(s *Server) http.HandlerFunc { return s.authenticated(s.listEndpoints) }},
	{"GET", changesPath, func(s *Server) http.HandlerFunc { return s.authenticatedFeed(s.listChanges) }},
	{"POST", collectionPath, func(s *Server) http.HandlerFunc { return s.authenticated(s.createEndpoint) }},
	{"GET", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.getEndpoint) }},
	{"PATCH", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.patchEndpoint) }},
	{"PUT", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.putEndpoint) }},
	{"DELETE", collectionPath + "/{endpoint_sid}", func(s *Server) http.HandlerFunc { return s.authenticated(s.deleteEndpoint) }},
}

// OptionalRoute is a route served only when its server enables it.
type OptionalRoute struct {
	Route
	Enabled func(s *Server) bool
}

// OptionalRoutes are the routes a server may leave out; the OpenAPI
// document describes them too, saying when they exist.
var OptionalRoutes = []OptionalRoute{
	{Route{"POST", resetPath, func(s *Server) http.HandlerFunc { return s.authenticated(s.reset) }},
		func(s *Server) bool { return s.Reset != nil }},
}

// servedRoutes are the table's routes and the optional ones s enables.
func (s *Server) servedRoutes() []Route {
	out := Routes
	for _, r := range OptionalRoutes {
		if r.Enabled(s) {
			out = append(out[:len(out):len(out)], r.Route)
		}
	}
	return out
}

// routes builds the router from the table. Each path of the served routes
// also gets a pattern without a method, which catches the path's other
// methods (405, with the path's methods of the table in Allow); "/" catches
// unknown paths (404).
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	var paths []string
	methods := map[string][]string{}
	for _, r := range s.servedRoutes() {
		mux.HandleFunc(r.Method+" "+r.Pattern, r.handler(s))
		if methods[r.Pattern] == nil {
			paths = append(paths, r.Pattern)
		}
		methods[r.Pattern] = append(methods[r.Pattern], r.Method)
	}
	for _, p := range paths {
		notAllowed := s.methodNotAllowed(strings.Join(methods[p], ", "))
		if !overlapsWildcard(p, paths) {
			mux.HandleFunc(p, notAllowed)
			continue
		}
		// A literal path that a wildcard path also matches (/changes and
		// /{endpoint_sid}) cannot have a pattern of every method: the
		// router would find the two patterns in conflict. It gets one per
		// standard method instead.
		for _, m := range routedMethods {
			if !slices.Contains(methods[p], m) && !(m == http.MethodHead && slices.Contains(methods[p], http.MethodGet)) {
				mux.HandleFunc(m+" "+p, notAllowed)
			}
		}
	}
	mux.HandleFunc("/", s.notFound)
	return mux
}

var routedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace}

// overlapsWildcard reports whether another of paths matches p too, with a
// wildcard where p has a literal segment.
func overlapsWildcard(p string, paths []string) bool {
	segs := strings.Split(p, "/")
	for _, q := range paths {
		other := strings.Split(q, "/")
		if q == p || len(other) != len(segs) {
			continue
		}
		match := true
		for i := range segs {
			if segs[i] != other[i] && !(strings.HasPrefix(other[i], "{") && !strings.HasPrefix(segs[i], "{")) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
