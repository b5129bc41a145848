package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConnLimit caps the connections a server holds open. At the cap, a new
// connection takes the place of the one idle the longest (a keep-alive
// connection between requests, or one that has sent nothing yet), so a
// client holding thousands of idle connections cannot lock others out;
// only when every connection is in a request is the new one closed at
// once. Use Listener for the server's listener and ConnState as its
// http.Server.ConnState.
type ConnLimit struct {
	max int

	mu    sync.Mutex
	conns map[net.Conn]*connEntry
	// Counts since the start (metrics and tests).
	accepted, evicted, refused int64
}

type connEntry struct {
	state http.ConnState
	since time.Time // when it entered state
}

// NewConnLimit caps the open connections at n (at least 1).
func NewConnLimit(n int) *ConnLimit {
	return &ConnLimit{max: max(1, n), conns: map[net.Conn]*connEntry{}}
}

// Listener wraps ln so that it hands the server only connections within
// the cap.
func (l *ConnLimit) Listener(ln net.Listener) net.Listener { return &limitedListener{ln, l} }

type limitedListener struct {
	net.Listener
	limit *ConnLimit
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ln.limit.admit(c) {
			return c, nil
		}
		c.Close()
	}
}

// admit takes c in, closing the longest-idle connection to make room at the
// cap; it reports false when every connection is busy.
func (l *ConnLimit) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		var victim net.Conn
		var since time.Time
		for vc, e := range l.conns {
			if (e.state == http.StateNew || e.state == http.StateIdle) && (victim == nil || e.since.Before(since)) {
				victim, since = vc, e.since
			}
		}
		if victim == nil {
			l.refused++
			return false
		}
		delete(l.conns, victim)
		victim.Close() // the server sees it closed and forgets it
		l.evicted++
	}
	l.conns[c] = &connEntry{state: http.StateNew, since: time.Now()}
	l.accepted++
	return true
}

// ConnState follows the server's connections (http.Server.ConnState).
func (l *ConnLimit) ConnState(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		if e, ok := l.conns[c]; ok {
			e.state, e.since = state, time.Now()
		}
	}
}

// ConnStats are a ConnLimit's counts.
type ConnStats struct {
	Open                       int
	Accepted, Evicted, Refused int64
}

func (l *ConnLimit) Stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ConnStats{Open: len(l.conns), Accepted: l.accepted, Evicted: l.evicted, Refused: l.refused}
}

var (
	connsOpenDesc = prometheus.NewDesc("switchboard_http_connections", "HTTP connections open.", nil, nil)
	connsDesc     = prometheus.NewDesc("switchboard_http_connections_total",
		"HTTP connections accepted; idle ones closed to make room at the cap (evicted); new ones closed at once because every connection was busy (refused).",
		[]string{"event"}, nil)
)

func (l *ConnLimit) Describe(ch chan<- *prometheus.Desc) {
	ch <- connsOpenDesc
	ch <- connsDesc
}

func (l *ConnLimit) Collect(ch chan<- prometheus.Metric) {
	s := l.Stats()
	ch <- prometheus.MustNewConstMetric(connsOpenDesc, prometheus.GaugeValue, float64(s.Open))
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.CounterValue, float64(s.Accepted), "accepted")
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.CounterValue, float64(s.Evicted), "evicted")
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.CounterValue, float64(s.Refused), "refused")
}
