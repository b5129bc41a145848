package httpapi

import "net/http"

const collectionPath = "/core/v2/endpoints"

// routes is the route table. Patterns without a method catch the other
// methods of a known path (405); "/" catches unknown paths (404).
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)

	mux.HandleFunc("POST "+collectionPath, s.authenticated(s.createEndpoint))
	mux.HandleFunc("GET "+collectionPath, s.authenticated(s.listEndpoints))
	mux.HandleFunc(collectionPath, methodNotAllowed("GET, POST"))

	mux.HandleFunc("GET "+collectionPath+"/{sid}", s.authenticated(s.getEndpoint))
	mux.HandleFunc("PATCH "+collectionPath+"/{sid}", s.authenticated(s.patchEndpoint))
	mux.HandleFunc("PUT "+collectionPath+"/{sid}", s.authenticated(s.putEndpoint))
	mux.HandleFunc("DELETE "+collectionPath+"/{sid}", s.authenticated(s.deleteEndpoint))
	mux.HandleFunc(collectionPath+"/{sid}", methodNotAllowed("GET, PATCH, PUT, DELETE"))

	mux.HandleFunc("/", s.notFound)
	return mux
}
