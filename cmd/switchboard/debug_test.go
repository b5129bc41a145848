package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
)

// The profiler answers on its own address only, never on the API's.
func TestDebugListener(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sb.db")
	srv := startServe(t, nil, "--db", db, "--debug-addr", "127.0.0.1:0")
	defer srv.stop()
	m := regexp.MustCompile(`"msg":"profiler listening","addr":"([^"]+)"`).FindStringSubmatch(srv.stderr.String())
	if m == nil {
		t.Fatalf("no profiler address logged:\n%s", srv.stderr.String())
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + m[1] + "/debug/pprof/", http.StatusOK},
		{srv.base + "/debug/pprof/", http.StatusNotFound},
	} {
		res, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, res.StatusCode, c.want)
		}
	}
}
