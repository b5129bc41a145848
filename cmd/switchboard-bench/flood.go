package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// startFlood sends wrong HTTP Basic passwords from n goroutines until the
// returned stop is called; stop reports how they were answered. Against a
// loopback server each goroutine connects from an address of its own
// (127.0.0.0/8 is all local on Linux), as a flood from many hosts would, so
// that the per-address limit alone does not stop it. Half the attempts name
// login (when given), half a random login.
func (b *bench) startFlood(ctx context.Context, n int, login string) (stop func() string) {
	ctx, cancel := context.WithCancel(ctx)
	u, _ := url.Parse(b.o.base)
	loopback := false
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil {
		loopback = true
	}
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range n {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		if loopback {
			dialer.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(1+w/250), byte(w%250+2), 1)}
		}
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			mine := map[string]int{}
			for ctx.Err() == nil {
				who := login
				if who == "" || r.IntN(2) == 0 {
					who = fmt.Sprintf("flood-%016x", r.Uint64())
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", b.o.base+"/core/v2/endpoints?limit=1", nil)
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s:wrong-%016x", who, r.Uint64()))))
				res, err := client.Do(req)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					mine["error"]++
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mine[fmt.Sprint(res.StatusCode)]++
			}
			mu.Lock()
			for k, v := range mine {
				statuses[k] += v
			}
			mu.Unlock()
		})
	}
	return func() string {
		cancel()
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		keys := make([]string, 0, len(statuses))
		total := 0
		for k, v := range statuses {
			keys = append(keys, k)
			total += v
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, statuses[k])
		}
		return fmt.Sprintf("flood of wrong Basic passwords from %d clients: %.0f req/s (%s)", n, float64(total)/elapsed, strings.Join(parts, ", "))
	}
}
