package httpapi

import (
	"compress/gzip"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	// Swagger UI's release files, gzipped, in an embed.FS: the page needs
	// nothing from the internet (swgui's own handler would pull in more).
	swaggerui "github.com/swaggest/swgui/v5/static"
)

// docsFiles are the page and its start script; the rest of the assets are
// Swagger UI's.
//
//go:embed docs/index.html docs/init.js
var docsFiles embed.FS

// docsPolicy lets the page load only what this server serves, so the
// reference works offline and cannot be made to call elsewhere. Swagger UI
// sets inline styles and data: images.
const docsPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

// serveDocs serves the API reference: Swagger UI rendering
// /core/v2/openapi.json.
func serveDocs(w http.ResponseWriter, r *http.Request) {
	page, _ := docsFiles.ReadFile("docs/index.html")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", docsPolicy)
	w.Write(page)
}

// serveDocsAsset serves a file of the reference page. Swagger UI's files
// are stored gzipped: they are sent as they are to clients that accept
// gzip (every browser) and unpacked for the others.
func (s *Server) serveDocsAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("asset")
	h := w.Header()
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	}
	// The files change only with the module's version, i.e. with a new
	// build; an hour keeps a page reload cheap without pinning old ones.
	h.Set("Cache-Control", "public, max-age=3600")
	if name == "init.js" {
		data, _ := docsFiles.ReadFile("docs/init.js")
		w.Write(data)
		return
	}
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		s.notFound(w, r)
		return
	}
	if data, err := fs.ReadFile(swaggerui.FS, name); err == nil { // the images
		w.Write(data)
		return
	}
	f, err := swaggerui.FS.Open(name + ".gz")
	if err != nil {
		h.Del("Cache-Control")
		h.Del("Content-Type")
		s.notFound(w, r)
		return
	}
	defer f.Close()
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		io.Copy(w, f)
		return
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	io.Copy(w, zr)
}

// acceptsGzip reads Accept-Encoding well enough for browsers and curl: gzip
// listed and not refused with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := 1.0
		for _, param := range strings.Split(params, ";") {
			if k, v, _ := strings.Cut(strings.TrimSpace(param), "="); strings.EqualFold(k, "q") {
				q, _ = strconv.ParseFloat(v, 64)
			}
		}
		return q > 0
	}
	return false
}

// rootPage is what GET / shows a browser.
var rootPage = template.Must(template.New("root").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title></head>
<body>
<h1>Switchboard</h1>
<p>This server serves the CarrierX Core API v2 Endpoints resource at <a href="{{.API}}">{{.API}}</a>
(send <code>Authorization: Bearer TOKEN</code>).</p>
<ul>
<li><a href="{{.Docs}}">API reference</a></li>
<li><a href="{{.OpenAPI}}">OpenAPI document</a></li>
<li><a href="{{.Health}}">health</a></li>
</ul>
</body></html>
`))

// rootInfo is the answer of GET /, keys in alphabetical order.
type rootInfo struct {
	API     string `json:"api"`
	Docs    string `json:"docs"`
	Health  string `json:"health"`
	Message string `json:"message"`
	Name    string `json:"name"`
	OpenAPI string `json:"openapi"`
}

// root answers GET / with where things are: JSON, or a page of links for a
// browser (a client that asks for HTML before JSON).
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	info := rootInfo{
		API:     base + collectionPath,
		Docs:    base + "/core/v2/docs",
		Health:  base + "/healthz",
		Message: "Switchboard serves the CarrierX Core API v2 Endpoints resource; send API requests with Authorization: Bearer TOKEN",
		Name:    "switchboard",
		OpenAPI: base + "/core/v2/openapi.json",
	}
	if prefersHTML(r.Header.Get("Accept")) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		rootPage.Execute(w, info)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// prefersHTML reports whether text/html comes before any JSON type in an
// Accept header (browsers list it first; curl sends */*).
func prefersHTML(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/html", "application/xhtml+xml":
			return true
		case "application/json", "*/*":
			return false
		}
	}
	return false
}
