package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address a request came from, for the limits on failed
// sign-ins: the connection's peer, unless the peer is one of the configured
// trusted proxies; then the right-most X-Forwarded-For entry that is not a
// trusted proxy (entries further left were written by the client and prove
// nothing). The zero Addr when nothing parses.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return addr // a hop we cannot read: the last proxy is the best we know
			}
			if addr = hop.Unmap(); !s.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
