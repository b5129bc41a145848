package httpapi

import (
	"runtime"
	"strings"
	"testing"
)

// Hostile bodies each get a clean 4xx, the server keeps answering, and its
// memory stays bounded.
func TestHostileBodies(t *testing.T) {
	f := newFixture(t)
	conf := f.create(f.admin, `{"type":"conference","name":"c"}`)
	item := "/core/v2/endpoints/" + conf["endpoint_sid"].(string)
	nearMiB := 1<<20 - 64
	bodies := []struct {
		name   string
		body   string
		status int
	}{
		{"deep nesting", strings.Repeat("[", nearMiB/2) + strings.Repeat("]", nearMiB/2), 400},
		{"deep object nesting", `{"a":` + strings.Repeat(`{"a":`, 50000) + `1` + strings.Repeat("}", 50001), 400},
		{"huge array", `{"addresses":[` + strings.Repeat(`1,`, nearMiB/2-20) + `1]}`, 422},
		{"huge attributes", `{"attributes":{` + strings.Repeat(`"k":"v",`, 10) + `"z":"` + strings.Repeat("v", nearMiB-200) + `"}}`, 400},
		{"many keys", `{` + strings.Repeat(`"k":1,`, 1) + genKeys(40000) + `}`, 422},
		{"invalid utf-8", "{\"name\":\"\xc3\x28\"}", 400},
		{"duplicate keys", `{"name":"a","name":"b"}`, 400},
		{"over 1 MiB", `{"name":"` + strings.Repeat("n", 1<<20) + `"}`, 413},
		{"nul bytes", "{\"name\":\"a\x00b\"}", 400},
	}
	for _, b := range bodies {
		for _, method := range []string{"POST", "PATCH", "PUT"} {
			path := item
			if method == "POST" {
				path = "/core/v2/endpoints"
			}
			r := f.do(method, path, f.admin, b.body)
			if r.status < 400 || r.status > 499 || (method == "PATCH" && r.status != b.status) {
				t.Errorf("%s %s: %d %.200s", b.name, method, r.status, r.body)
			}
		}
	}
	if r := f.do("GET", item, f.admin, ""); r.status != 200 || !strings.Contains(r.body, `"name":"c"`) {
		t.Fatalf("after the hostile bodies: %d %s", r.status, r.body)
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapInuse > 256<<20 {
		t.Fatalf("heap in use after the hostile bodies: %d MiB", m.HeapInuse>>20)
	}
}

func genKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(itoa(i))
		b.WriteString(`":1`)
	}
	return b.String()
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
