package kamailio

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// fakeKamailio records the reloads the agent asks for; its up_since is set
// by the test (a restart).
type fakeKamailio struct {
	mu       sync.Mutex
	upSince  string
	down     bool
	reloads  []time.Time // address table reloads
	credsRel int
}

func (f *fakeKamailio) UpSince(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", ErrUnreachable
	}
	return f.upSince, nil
}

func (f *fakeKamailio) ReloadAddresses(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return ErrUnreachable
	}
	f.reloads = append(f.reloads, time.Now())
	return nil
}

func (f *fakeKamailio) ReloadCredentials(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.credsRel++
	return nil
}

func (f *fakeKamailio) set(fn func(f *fakeKamailio)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeKamailio) addressReloads() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.reloads...)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type agentRun struct {
	agent *Agent
	log   *lockedBuffer
	stop  func()
}

func runAgent(t *testing.T, db *sqlstore.DB, k Kamailio, dataDir, stateDir string) *agentRun {
	t.Helper()
	log := &lockedBuffer{}
	a := &Agent{Feed: db, Kamailio: k, DataDir: dataDir, StateDir: stateDir, Realm: "switchboard",
		MinReloadInterval: time.Second, ProbeInterval: 20 * time.Millisecond, SaveInterval: 50 * time.Millisecond,
		RebuildOn: []error{sqlstore.ErrBadCursor},
		Log:       slog.New(slog.NewTextHandler(log, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	r := &agentRun{agent: a, log: log}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func newThirdParty(t *testing.T, db *sqlstore.DB, partner, ip string, port int64) *sb.Endpoint {
	t.Helper()
	e := sb.NewSystemGateway(partner, []sb.IPPort{{IP: ip, Port: port}})
	e.Type, e.Name = sb.TypeThirdParty, "trunk"
	if err := db.CreateEndpoint(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func newPartner(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Scopes: sb.Scopes{sb.ScopeManage}}
	if err := db.CreatePartner(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	return p.PartnerSID
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileHas(path, s string) bool {
	data, _ := os.ReadFile(path)
	return bytes.Contains(data, []byte(s))
}

// Kamailio restarting (another up_since) or coming back after being
// unreachable is owed a reload of everything, even with no change.
func TestAgentPushesEverythingWhenKamailioRestarts(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	partner := newPartner(t, db)
	newThirdParty(t, db, partner, "192.0.2.1", 5060)
	k := &fakeKamailio{upSince: "first"}
	dir := t.TempDir()
	runAgent(t, db, k, filepath.Join(dir, "data"), filepath.Join(dir, "state"))
	eventually(t, "the first push", func() bool { return len(k.addressReloads()) == 1 })

	k.set(func(f *fakeKamailio) { f.upSince = "second" })
	eventually(t, "a push after the restart", func() bool { return len(k.addressReloads()) == 2 })

	k.set(func(f *fakeKamailio) { f.down = true })
	time.Sleep(100 * time.Millisecond) // several probes see it down
	k.set(func(f *fakeKamailio) { f.down = false })
	eventually(t, "a push once it is reachable again", func() bool { return len(k.addressReloads()) == 3 })
	if k.credsRel < 3 {
		t.Fatalf("credentials reloaded %d times, want every push to reload them too", k.credsRel)
	}
}

// However fast changes come, the address table is never reloaded twice
// within MinReloadInterval (Kamailio's reload_delta refuses, and closer
// reloads can crash it); and the last state is always reloaded.
func TestAgentDebouncesReloads(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	partner := newPartner(t, db)
	k := &fakeKamailio{upSince: "up"}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	r := runAgent(t, db, k, data, filepath.Join(dir, "state"))
	var last *sb.Endpoint
	for i := range 40 {
		last = newThirdParty(t, db, partner, "192.0.2.1", int64(6000+i))
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "the last change in the address file", func() bool {
		return fileHas(filepath.Join(data, AddressFile), "192.0.2.1 32 6039 "+last.EndpointSID)
	})
	eventually(t, "its reload", func() bool {
		reloads := k.addressReloads()
		st, _ := os.Stat(filepath.Join(data, AddressFile))
		return len(reloads) > 0 && !reloads[len(reloads)-1].Before(st.ModTime().Truncate(time.Second))
	})
	r.stop()
	reloads := k.addressReloads()
	for i := 1; i < len(reloads); i++ {
		if gap := reloads[i].Sub(reloads[i-1]); gap < r.agent.MinReloadInterval {
			t.Fatalf("reloads %d and %d are %s apart, less than %s", i-1, i, gap, r.agent.MinReloadInterval)
		}
	}
	if len(reloads) > 5 {
		t.Fatalf("%d reloads for 2 s of changes", len(reloads))
	}
}

// A restarted agent resumes from its saved cursor; a cursor whose next
// change was pruned makes it read every endpoint again, and its files end
// as the database says.
func TestAgentResumesAndRebuildsWhenPruned(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	partner := newPartner(t, db)
	a := newThirdParty(t, db, partner, "192.0.2.1", 5060)
	k := &fakeKamailio{upSince: "up"}
	dir := t.TempDir()
	data, state := filepath.Join(dir, "data"), filepath.Join(dir, "state")
	addrs := filepath.Join(data, AddressFile)

	r := runAgent(t, db, k, data, state)
	eventually(t, "the first endpoint", func() bool { return fileHas(addrs, a.EndpointSID) })
	r.stop()

	b := newThirdParty(t, db, partner, "192.0.2.2", 5060)
	r = runAgent(t, db, k, data, state)
	eventually(t, "the change made while stopped", func() bool { return fileHas(addrs, b.EndpointSID) })
	r.stop()
	if log := r.log.String(); !strings.Contains(log, "resuming") || strings.Contains(log, "read every endpoint") {
		t.Fatalf("restart should resume without a full read:\n%s", log)
	}

	if err := db.DeleteEndpoint(context.Background(), partner, a.EndpointSID); err != nil {
		t.Fatal(err)
	}
	c := newThirdParty(t, db, partner, "192.0.2.3", 5060)
	if _, err := db.PruneChanges(context.Background(), time.Now().Add(time.Hour), 1000); err != nil {
		t.Fatal(err)
	}
	r = runAgent(t, db, k, data, state)
	eventually(t, "the rebuilt state", func() bool {
		return fileHas(addrs, c.EndpointSID) && fileHas(addrs, b.EndpointSID) && !fileHas(addrs, a.EndpointSID)
	})
	r.stop()
	if log := r.log.String(); !strings.Contains(log, "older than the changes kept") {
		t.Fatalf("a pruned cursor should be reported and rebuilt from a full read:\n%s", log)
	}
}

// A state directory kept from another database (its cursor is ahead of
// this one's feed) means a full read, not an agent stuck retrying.
func TestAgentRebuildsOnACursorOfAnotherDatabase(t *testing.T) {
	k := &fakeKamailio{upSince: "up"}
	dir := t.TempDir()
	data, state := filepath.Join(dir, "data"), filepath.Join(dir, "state")
	addrs := filepath.Join(data, AddressFile)

	first := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	partner := newPartner(t, first)
	var old *sb.Endpoint
	for i := range 3 {
		old = newThirdParty(t, first, partner, "192.0.2.1", int64(5060+i))
	}
	r := runAgent(t, first, k, data, state)
	eventually(t, "the first database's endpoints", func() bool { return fileHas(addrs, old.EndpointSID) })
	r.stop()

	second := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	e := newThirdParty(t, second, newPartner(t, second), "192.0.2.9", 5060)
	r = runAgent(t, second, k, data, state)
	eventually(t, "the second database's endpoint alone", func() bool {
		return fileHas(addrs, e.EndpointSID) && !fileHas(addrs, old.EndpointSID)
	})
}
