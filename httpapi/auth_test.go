package httpapi

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"

	"golang.org/x/crypto/bcrypt"
)

func basicAuth(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}

// expireCache makes every cached credential due for its recheck, as if
// freshFor had passed.
func (f *fixture) expireCache() {
	a := f.api.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.cache {
		c.fresh = time.Time{}
		a.cache[k] = c
	}
}

// stopsWorkingWithin polls works (one request each) until it fails, and
// fails the test if a request that started d or more after now still
// worked. It asserts what the server promises about staleness, not how fast
// it answers: a slow machine only makes it poll longer.
func stopsWorkingWithin(t *testing.T, d time.Duration, works func() bool) {
	t.Helper()
	changed := time.Now()
	for {
		started := time.Now()
		if !works() {
			return
		}
		if late := started.Sub(changed); late >= d {
			t.Fatalf("still works in a request started %v after the change", late.Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every Basic sign-in that is not already verified costs exactly one bcrypt
// comparison, whether the login exists or not, so neither time nor count
// tells an unknown login from a wrong password.
func TestEverySignInCostsOneComparison(t *testing.T) {
	f := newFixture(t)
	db := f.store.Store.(*sqlstore.DB)
	disabled := sb.Partner{PartnerSID: sb.NewSID(), Name: "gone", Login: "disabled-login", Scopes: sb.Scopes{sb.ScopeManage}}
	noPassword := sb.Partner{PartnerSID: sb.NewSID(), Name: "bare", Login: "no-password-login", Scopes: sb.Scopes{sb.ScopeManage}}
	_, hash, err := db.PartnerByLogin(t.Context(), "admin-login") // a bcrypt hash of s3cret-pass
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreatePartner(t.Context(), disabled, hash); err != nil {
		t.Fatal(err)
	}
	if err := db.CreatePartner(t.Context(), noPassword, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DisablePartner(t.Context(), disabled.PartnerSID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth  string
		status      int
		comparisons int64
	}{
		{"wrong password", basicAuth("admin-login", "s3cret-pasz"), 401, 1},
		{"unknown login", basicAuth("no-such-login", "s3cret-pass"), 401, 1},
		{"disabled partner", basicAuth("disabled-login", "s3cret-pass"), 401, 1},
		{"login without a password", basicAuth("no-password-login", ""), 401, 1},
		{"right password", f.basic, 200, 1},
		{"right password again (cached)", f.basic, 200, 0},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin-login")), 401, 0},
		{"token", f.admin, 200, 0},
	} {
		before := f.api.auth.passwords.Compares()
		r := f.do("GET", "/core/v2/endpoints", tc.auth, "")
		if n := f.api.auth.passwords.Compares() - before; r.status != tc.status || n != tc.comparisons {
			t.Errorf("%s: %d with %d bcrypt comparisons, want %d with %d", tc.name, r.status, n, tc.status, tc.comparisons)
		}
	}
}

// plainCompare stands in for bcrypt where tests run many checks: a stored
// hash "plain:PASSWORD" matches PASSWORD, nothing else (the dummy hash
// included) matches.
func plainCompare(hash, password []byte) error {
	if string(hash) == "plain:"+string(password) {
		return nil
	}
	return bcrypt.ErrMismatchedHashAndPassword
}

// authServer serves the API with plainCompare for one partner with the
// login "plain-login" and the password "right-password".
func authServer(t *testing.T) (*Server, http.Handler, *sqlstore.DB) {
	t.Helper()
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: "plain", Login: "plain-login", Scopes: sb.Scopes{sb.ScopeManage}}
	if err := db.CreatePartner(t.Context(), p, "plain:right-password"); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(t.Context(), credential.HashToken("plain-token"), p.PartnerSID, p.Scopes); err != nil {
		t.Fatal(err)
	}
	api, h := (&Server{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).handler()
	api.auth.passwords.Compare = plainCompare
	return api, h, db
}

// from sends a GET of the collection to h as if from remote (host:port).
func from(h http.Handler, remote, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/core/v2/endpoints", nil)
	req.RemoteAddr = remote
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func wantTooManyFailures(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	want := `{"errors":[{"field":null,"message":"` + errTooManyFailures.detail + `","reference_sid":null}],"message":"too many requests"}`
	if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); rec.Code != 429 || err != nil || secs < 1 || rec.Body.String() != want {
		t.Fatalf("%s: %d Retry-After %q %s; want 429, Retry-After in seconds and\n%s", what, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String(), want)
	}
}

func TestFailedSignInsAreLimited(t *testing.T) {
	t.Run("per login, whether it exists or not", func(t *testing.T) {
		api, h, _ := authServer(t)
		var seen [2][]int
		for i, login := range []string{"plain-login", "no-such-login"} {
			for n := range loginBurst + 2 {
				before := api.auth.passwords.Compares()
				rec := from(h, fmt.Sprintf("198.51.100.%d:40000", 10*i+n), basicAuth(login, "wrong-password"))
				seen[i] = append(seen[i], rec.Code)
				switch {
				case n < loginBurst && rec.Code != 401:
					t.Fatalf("%s, failure %d: %d %s", login, n+1, rec.Code, rec.Body.String())
				case n >= loginBurst:
					wantTooManyFailures(t, login, rec)
					if api.auth.passwords.Compares() != before {
						t.Fatalf("%s: a refused sign-in still ran bcrypt", login)
					}
				}
			}
		}
		if fmt.Sprint(seen[0]) != fmt.Sprint(seen[1]) {
			t.Fatalf("an existing login answers %v, an unknown one %v: the limit tells them apart", seen[0], seen[1])
		}
	})

	t.Run("per client address", func(t *testing.T) {
		_, h, _ := authServer(t)
		for n := range clientBurst {
			if rec := from(h, "203.0.113.9:1234", basicAuth(fmt.Sprintf("login-%d", n), "wrong-password")); rec.Code != 401 {
				t.Fatalf("failure %d: %d", n+1, rec.Code)
			}
		}
		wantTooManyFailures(t, "one address past its failures", from(h, "203.0.113.9:1234", basicAuth("another-login", "wrong-password")))
		// One IPv6 host commonly has a /64: it counts as one client.
		for n := range clientBurst {
			from(h, fmt.Sprintf("[2001:db8:1:2::%x]:1234", n), basicAuth(fmt.Sprintf("v6-login-%d", n), "wrong-password"))
		}
		wantTooManyFailures(t, "one /64 past its failures", from(h, "[2001:db8:1:2:ffff::1]:1234", basicAuth("v6-another", "wrong-password")))
		if rec := from(h, "203.0.113.10:1234", basicAuth("another-login", "wrong-password")); rec.Code != 401 {
			t.Fatalf("another address: %d, want 401", rec.Code)
		}
	})

	t.Run("a right password is no failure and a verified one is not locked out", func(t *testing.T) {
		api, h, _ := authServer(t)
		right := basicAuth("plain-login", "right-password")
		if rec := from(h, "192.0.2.1:1", right); rec.Code != 200 {
			t.Fatalf("right password: %d", rec.Code)
		}
		api.auth.mu.Lock()
		clear(api.auth.cache) // the next right password is checked again
		api.auth.mu.Unlock()
		for n := range loginBurst - 1 {
			from(h, fmt.Sprintf("192.0.2.%d:1", 10+n), basicAuth("plain-login", "wrong-password"))
		}
		if rec := from(h, "192.0.2.1:1", right); rec.Code != 200 {
			t.Fatalf("right password after %d failures: %d", loginBurst-1, rec.Code)
		}
		if rec := from(h, "192.0.2.2:1", basicAuth("plain-login", "wrong-password")); rec.Code != 401 {
			t.Fatalf("the right password must have given its failure back: %d", rec.Code)
		}
		wantTooManyFailures(t, "past the login's failures", from(h, "192.0.2.3:1", basicAuth("plain-login", "wrong-password")))
		// The credential verified before stays usable, from anywhere.
		if rec := from(h, "192.0.2.4:1", right); rec.Code != 200 {
			t.Fatalf("a verified credential while its login is locked: %d", rec.Code)
		}
		if rec := from(h, "192.0.2.4:1", "Bearer plain-token"); rec.Code != 200 {
			t.Fatalf("the partner's token while its login is locked: %d", rec.Code)
		}
	})
}

// Random logins from random addresses cannot grow the limiter, nor flush
// the count of a login under attack.
func TestSignInLimitStateIsBounded(t *testing.T) {
	api, h, _ := authServer(t)
	const maxKeys = 50
	api.auth.failures = &signInLimits{
		byLogin:  newFailureBuckets[[32]byte](loginBurst, loginEvery, maxKeys),
		byClient: newFailureBuckets[netip.Addr](clientBurst, clientEvery, maxKeys),
	}
	for n := range loginBurst {
		from(h, fmt.Sprintf("192.0.2.%d:1", n), basicAuth("plain-login", "wrong-password"))
	}
	wantTooManyFailures(t, "the attacked login", from(h, "192.0.2.200:1", basicAuth("plain-login", "wrong-password")))
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 20 * maxKeys {
		remote := fmt.Sprintf("10.%d.%d.%d:1", r.IntN(256), r.IntN(256), r.IntN(256))
		if n%2 == 1 {
			remote = fmt.Sprintf("[2001:db8:%x:%x::1]:1", r.IntN(65536), r.IntN(65536))
		}
		if rec := from(h, remote, basicAuth(fmt.Sprintf("random-%d", r.Uint64()), "x")); rec.Code != 401 && rec.Code != 429 {
			t.Fatalf("random login: %d %s", rec.Code, rec.Body.String())
		}
	}
	if l, c := api.auth.failures.byLogin.size(), api.auth.failures.byClient.size(); l > maxKeys || c > maxKeys {
		t.Fatalf("after %d random logins from random addresses: %d login and %d address buckets, at most %d each", 20*maxKeys, l, c, maxKeys)
	}
	wantTooManyFailures(t, "the attacked login after the flood", from(h, "192.0.2.201:1", basicAuth("plain-login", "wrong-password")))
}

func TestFailureBucketsSweepAndShare(t *testing.T) {
	now := time.Unix(1e9, 0)
	f := newFailureBuckets[int](2, time.Second, 3)
	f.now = func() time.Time { return now }
	for k := range 3 {
		if b, _ := f.take(k); b == nil {
			t.Fatalf("key %d refused", k)
		}
	}
	// Full of recent failures: new keys share one bucket of the same size.
	if b1, _ := f.take(100); b1 != f.shared {
		t.Fatal("a new key in a full table must use the shared bucket")
	}
	f.take(101)
	if b, wait := f.take(102); b != nil || wait != time.Second {
		t.Fatalf("the shared bucket after 2 failures: %v, wait %v", b, wait)
	}
	// Once their buckets have filled again, the old keys make room.
	now = now.Add(time.Second)
	if b, _ := f.take(200); b == nil || b == f.shared || f.size() != 1 {
		t.Fatalf("after a refill: bucket %v (shared %v), %d keys", b, b == f.shared, f.size())
	}
	// A refused take keeps nothing, a given-back failure is there again.
	b, _ := f.take(200)
	if got, _ := f.take(200); got != nil {
		t.Fatal("a third failure within the second must be refused")
	}
	f.give(b)
	if got, _ := f.take(200); got == nil {
		t.Fatal("a failure given back must be usable again")
	}
}

// However many wrong passwords arrive at once, at most the checker's slots
// run bcrypt together; the others wait briefly, then get a 503 with
// Retry-After in the CarrierX shape.
func TestConcurrentPasswordChecksAreBounded(t *testing.T) {
	api, h, _ := authServer(t)
	release := make(chan struct{})
	var inFlight, most atomic.Int64
	api.auth.passwords.Compare = func(hash, password []byte) error {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inFlight.Add(-1)
		return plainCompare(hash, password)
	}
	slots := int64(credential.DefaultSlots())
	const callers = 12
	var wg sync.WaitGroup
	var busy atomic.Int64
	codes := make(chan int, callers)
	for n := range callers {
		wg.Go(func() {
			rec := from(h, fmt.Sprintf("198.18.0.%d:1", n), basicAuth(fmt.Sprintf("login-%d", n), "wrong-password"))
			if rec.Code == 503 {
				want := `{"errors":[{"field":null,"message":"` + errPasswordsBusy.detail + `","reference_sid":null}],"message":"service unavailable"}`
				if rec.Header().Get("Retry-After") != "1" || rec.Body.String() != want {
					t.Errorf("503: Retry-After %q %s", rec.Header().Get("Retry-After"), rec.Body.String())
				}
				busy.Add(1)
			}
			codes <- rec.Code
		})
	}
	// Every caller is comparing or has given up before any comparison ends.
	for busy.Load()+inFlight.Load() < callers {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(codes)
	count := map[int]int64{}
	for c := range codes {
		count[c]++
	}
	if most.Load() > slots || count[401] != slots || count[503] != callers-slots {
		t.Fatalf("%d wrong passwords at once with %d slots: %d compared at once, answers %v", callers, slots, most.Load(), count)
	}
}

// A changed password and a disabled partner take effect within a second,
// without a bcrypt per request before.
func TestPasswordChangeAndDisableTakeEffect(t *testing.T) {
	api, h, db := authServer(t)
	p, _, err := db.PartnerByLogin(t.Context(), "plain-login")
	if err != nil {
		t.Fatal(err)
	}
	old, token := basicAuth("plain-login", "right-password"), "Bearer plain-token"
	works := func(auth string) func() bool {
		return func() bool { return from(h, "192.0.2.1:1", auth).Code == 200 }
	}
	for _, auth := range []string{old, token} {
		if !works(auth)() {
			t.Fatalf("%s before any change", auth)
		}
	}
	if _, err := db.SetPartnerPassword(t.Context(), p.PartnerSID, "", "plain:new-password"); err != nil {
		t.Fatal(err)
	}
	// Until the cached credential is rechecked, requests run no bcrypt; the
	// first after it compares the old password with the new hash, once.
	compares := api.auth.passwords.Compares()
	stopsWorkingWithin(t, freshFor, works(old))
	if n := api.auth.passwords.Compares() - compares; n != 1 {
		t.Fatalf("the old password after the change: %d bcrypt comparisons, want 1", n)
	}
	newer := basicAuth("plain-login", "new-password")
	if !works(newer)() || !works(token)() {
		t.Fatal("the new password and the token must work")
	}
	if _, err := db.DisablePartner(t.Context(), p.PartnerSID); err != nil {
		t.Fatal(err)
	}
	compares = api.auth.passwords.Compares()
	stopsWorkingWithin(t, freshFor, works(token))
	stopsWorkingWithin(t, freshFor, works(newer))
	// A disabled partner's login is as good as unknown: one dummy comparison.
	if n := api.auth.passwords.Compares() - compares; n != 1 {
		t.Fatalf("a disabled partner's token and login: %d bcrypt comparisons, want 1", n)
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1"}, // not a trusted proxy: the header is ignored
		{"[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"203.0.113.5, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"}, // the client wrote 203.0.113.5
		{"10.1.2.3:5000", []string{"203.0.113.5", "198.51.100.1"}, "198.51.100.1"},
		{"[::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"10.1.2.3:5000", []string{"not-an-ip, 10.9.9.9"}, "10.9.9.9"},
		{"garbage", nil, "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r).String(); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if got := (&Server{}).clientAddr(&http.Request{RemoteAddr: "10.1.2.3:1", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}}); got.String() != "10.1.2.3" {
		t.Errorf("without trusted proxies X-Forwarded-For must be ignored: %s", got)
	}
}
