package main

import (
	"os"
	"regexp"
	"testing"
)

var sandboxTokenRE = regexp.MustCompile(`sandbox token: (\S+)\n`)

// serve --db memory (and its synonym sqlite::memory:) serves on a database
// that lives in memory: the first start prints the sandbox token, the API
// works, and nothing is written to the working directory.
func TestServeInMemory(t *testing.T) {
	for _, dsn := range []string{"memory", "sqlite::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			srv := startServe(t, nil, "--db", dsn)
			m := sandboxTokenRE.FindStringSubmatch(srv.stderr.String())
			if m == nil {
				t.Fatalf("the first start must print the sandbox token:\n%s", srv.stderr.String())
			}
			status, e := call(t, "POST", srv.base+"/core/v2/endpoints", m[1], `{"type":"conference","name":"in memory"}`)
			if status != 200 {
				t.Fatalf("create: %d %v", status, e)
			}
			if status, got := call(t, "GET", srv.base+"/core/v2/endpoints/"+e["endpoint_sid"].(string), m[1], ""); status != 200 || got["name"] != "in memory" {
				t.Fatalf("read back: %d %v", status, got)
			}
			if err := srv.stop(); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("the working directory holds %v", entries)
			}
		})
	}
}
