package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records what reaches "standard error" and in how many
// writes.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) read() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.writes
}

// TestAccessLogGathersWholeLines: lines logged from many goroutines all
// arrive, each whole, in far fewer writes than lines; stop writes what is
// held.
func TestAccessLogGathersWholeLines(t *testing.T) {
	out := &countingWriter{}
	logger, stop := newAccessLogger(out)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				logger.Info("request", "n", fmt.Sprint(g, "-", i), "pad", strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	stop()
	text, writes := out.read()
	seen := map[string]bool{}
	for line := range strings.Lines(text) {
		var rec struct{ N string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a cut line %q: %v", line, err)
		}
		seen[rec.N] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct lines arrived, want %d", len(seen), goroutines*each)
	}
	// 4,000 lines of ~170 bytes are ~680 KB: about 11 buffers' worth, plus
	// the flushes of the ticks that fell during the writing.
	if writes > goroutines*each/10 {
		t.Errorf("%d writes for %d lines: not gathered", writes, goroutines*each)
	}
}

// TestAccessLogFlushesWithoutMoreLines: a lone line reaches the output
// without waiting for others or for stop.
func TestAccessLogFlushesWithoutMoreLines(t *testing.T) {
	out := &countingWriter{}
	logger, stop := newAccessLogger(out)
	defer stop()
	logger.Info("request", "route", "GET /healthz")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if text, _ := out.read(); strings.Contains(text, `"route":"GET /healthz"`) {
			return
		}
	}
	t.Fatal("the line was never written")
}

// TestLineBufferWritesALongLineWhole: a line larger than the buffer goes
// out in one write, after what was held.
func TestLineBufferWritesALongLineWhole(t *testing.T) {
	out := &countingWriter{}
	b := newLineBuffer(out, 64)
	io.WriteString(b, "short\n")
	long := strings.Repeat("y", 100) + "\n"
	io.WriteString(b, long)
	b.Flush()
	if text, writes := out.read(); text != "short\n"+long || writes != 2 {
		t.Errorf("got %q in %d writes", text, writes)
	}
}
