package main

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// accessLogFlushEvery is how long an access-log line may wait in memory
// before it reaches standard error.
const accessLogFlushEvery = 100 * time.Millisecond

// accessLogBufferBytes is the most the access log holds before it writes.
const accessLogBufferBytes = 64 << 10

// newAccessLogger is the logger of the one line per request. On a terminal
// it is the plain logger; otherwise its lines are gathered and written a
// few times a second: one write(2) per request was a tenth of a GET's CPU
// under load (issue 17). stop writes what is held and ends the flushing.
func newAccessLogger(stderr io.Writer) (logger *slog.Logger, stop func()) {
	if isTerminal(stderr) {
		return newLogger(stderr), func() {}
	}
	lw := newLineBuffer(stderr, accessLogBufferBytes)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(accessLogFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				lw.Flush()
			case <-done:
				lw.Flush()
				return
			}
		}
	}()
	return slog.New(slog.NewJSONHandler(lw, nil)), sync.OnceFunc(func() { close(done); wg.Wait() })
}

// lineBuffer holds whole log lines (slog writes each record in one Write)
// and writes them to w in one call when it is flushed or would overflow,
// so lines from other writers to w are never cut.
type lineBuffer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	max int
}

func newLineBuffer(w io.Writer, max int) *lineBuffer {
	return &lineBuffer{w: w, max: max, buf: make([]byte, 0, max)}
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.max {
		b.flushLocked()
	}
	if len(p) > b.max {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what the buffer holds.
func (b *lineBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

// flushLocked drops the lines when w fails, as a logger writing straight
// to w would: a log must not stop the server.
func (b *lineBuffer) flushLocked() {
	if len(b.buf) > 0 {
		b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
