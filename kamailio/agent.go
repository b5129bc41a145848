package kamailio

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// Feed is what the agent reads of the database: the operators' change feed
// (sqlstore.DB has it).
type Feed interface {
	// OperatorChanges: up to limit changes after cursor ("" from the
	// oldest kept); sb.ErrChangesPruned when the one after it was pruned.
	OperatorChanges(ctx context.Context, cursor string, limit int) ([]sb.EndpointChange, error)
	// OperatorAdmissionSnapshot: every endpoint, with the fields the
	// mapping reads (contribute), and the cursor to follow from.
	OperatorAdmissionSnapshot(ctx context.Context, fn func(*sb.Endpoint) error) (string, error)
	// ChangeNotify: a channel closed by the next change committed.
	ChangeNotify(ctx context.Context) (<-chan struct{}, error)
}

// Kamailio is what the agent tells Kamailio (RPC has it).
type Kamailio interface {
	UpSince(ctx context.Context) (string, error)
	ReloadAddresses(ctx context.Context) error
	ReloadCredentials(ctx context.Context) error
}

// Agent keeps Kamailio's data in step with the database.
type Agent struct {
	Feed     Feed
	Kamailio Kamailio
	// DataDir is where Kamailio's files are written (kamailio.cfg's
	// SB_ADDRESS_FILE is DataDir/address.list and SB_DB_URL text://DataDir).
	DataDir string
	// StateDir holds the agent's own state: the table and its cursor.
	StateDir string
	Realm    string
	// MinReloadInterval is the least time between two reloads of the
	// address table: longer than kamailio.cfg's reload_delta (seconds),
	// which makes Kamailio refuse closer ones.
	MinReloadInterval time.Duration
	// ProbeInterval is how often Kamailio is asked whether it restarted.
	ProbeInterval time.Duration
	// SaveInterval is the most time the saved state lags the applied one.
	SaveInterval time.Duration
	Log          *slog.Logger

	// RebuildOn are errors of the feed that also mean a full read (besides
	// sb.ErrChangesPruned): a cursor this database never gave, as when the
	// state directory was used with another database.
	RebuildOn []error

	// OnApplied, when set, is called after Kamailio has reloaded data that
	// holds every change up to cursor (tests and measurements).
	OnApplied func(cursor string)

	table      *Table
	cursor     string // every change up to it is in table
	savedAt    string // the cursor of the state file
	files      Files
	problems   map[Problem]bool
	upSince    string // "" while Kamailio is not known to be up
	pushAll    bool   // a reload of both tables is owed (start, Kamailio restarted, a reload failed)
	addrsOwed  bool
	credsOwed  bool
	lastReload time.Time
	dirty      bool // table changed since the files were written
}

const feedPage = 1000

// stateFile is the agent's state in StateDir.
const stateFile = "agent-state.json"

// The state file is JSON lines: a header, then one line per endpoint, so
// that it is written and read without holding it whole.
type savedHeader struct {
	Cursor    string `json:"cursor"`
	Realm     string `json:"realm"`
	Endpoints int    `json:"endpoints"`
}

type savedEndpoint struct {
	EndpointSID string         `json:"e"`
	PartnerSID  string         `json:"p"`
	Gateway     bool           `json:"g,omitempty"`
	Addresses   []savedAddress `json:"a,omitempty"`
	Credentials [][2]string    `json:"c,omitempty"` // username, hex HA1
	Problems    []Problem      `json:"x,omitempty"`
}

type savedAddress struct {
	IP    netip.Addr `json:"ip"`
	Port  uint16     `json:"port"`
	Group uint8      `json:"group"`
}

func (a *Agent) defaults() {
	if a.MinReloadInterval <= 0 {
		a.MinReloadInterval = 1100 * time.Millisecond
	}
	if a.ProbeInterval <= 0 {
		a.ProbeInterval = 2 * time.Second
	}
	if a.SaveInterval <= 0 {
		a.SaveInterval = 5 * time.Second
	}
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	a.files.Dir = a.DataDir
	a.problems = map[Problem]bool{}
}

// Run follows the feed until ctx ends; it returns nil then (after saving
// its state), or an error it cannot go on after (a state directory it
// cannot write). Database and Kamailio failures are waited out: Kamailio
// keeps serving the files it has meanwhile.
func (a *Agent) Run(ctx context.Context) error {
	a.defaults()
	if err := os.MkdirAll(a.StateDir, 0o750); err != nil {
		return err
	}
	if err := a.load(); err != nil {
		a.Log.Warn("kamailio sync: no usable saved state, reading every endpoint", "reason", err)
		if err := a.retry(ctx, a.rebuild); err != nil {
			return a.stop(err)
		}
	} else {
		a.Log.Info("kamailio sync: resuming", "cursor", a.cursor, "endpoints", a.table.Len())
	}
	a.pushAll, a.dirty = true, true

	probe := time.NewTicker(a.ProbeInterval)
	defer probe.Stop()
	save := time.NewTicker(a.SaveInterval)
	defer save.Stop()
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	a.probe(ctx)

	for {
		notify, err := a.Feed.ChangeNotify(ctx)
		if err != nil {
			notify = nil
		}
		more, err := a.follow(ctx)
		if err != nil && ctx.Err() == nil {
			a.Log.Warn("kamailio sync: reading the change feed failed; Kamailio keeps its data, retrying", "error", err)
			notify = nil
		}
		if err := a.flushOrSchedule(ctx, flush); err != nil {
			return a.stop(err)
		}
		if more {
			continue
		}
		var retry <-chan time.Time
		if notify == nil {
			retry = time.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return a.stop(nil)
		case <-notify:
		case <-retry:
		case <-flush.C:
		case <-probe.C:
			a.probe(ctx)
		case <-save.C:
			if a.savedAt != a.cursor {
				if err := a.save(); err != nil {
					return a.stop(err)
				}
			}
		}
	}
}

// flushOrSchedule flushes what is owed now if the last reload is far
// enough in the past, and otherwise (or when a reload was refused) sets the
// timer for when it will be.
func (a *Agent) flushOrSchedule(ctx context.Context, timer *time.Timer) error {
	if !a.owed() {
		return nil
	}
	if time.Since(a.lastReload) >= a.MinReloadInterval {
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	if a.owed() && a.upSince != "" {
		timer.Reset(max(a.MinReloadInterval-time.Since(a.lastReload), time.Millisecond))
	}
	return nil
}

func (a *Agent) owed() bool { return a.dirty || a.pushAll || a.addrsOwed || a.credsOwed }

// stop saves the state on the way out.
func (a *Agent) stop(err error) error {
	if a.table != nil && a.savedAt != a.cursor {
		if serr := a.save(); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// retry runs fn until it succeeds or ctx ends, backing off on failures
// (the database may be down).
func (a *Agent) retry(ctx context.Context, fn func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		a.Log.Warn("kamailio sync: database unavailable, retrying", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// follow applies one page of changes; more reports that another page is
// waiting.
func (a *Agent) follow(ctx context.Context) (more bool, err error) {
	changes, err := a.Feed.OperatorChanges(ctx, a.cursor, feedPage)
	if a.mustRebuild(err) {
		a.Log.Warn("kamailio sync: the cursor is older than the changes kept (or not of this database); reading every endpoint", "cursor", a.cursor, "error", err)
		if err := a.rebuild(ctx); err != nil {
			return false, err
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, c := range changes {
		if c.Operation == sb.ChangeDeleted || c.Endpoint == nil {
			a.table.Delete(c.EndpointSID)
		} else {
			a.table.Put(c.Endpoint)
		}
		a.cursor = c.Cursor
	}
	if len(changes) > 0 {
		a.dirty = true
	}
	return len(changes) == feedPage, nil
}

func (a *Agent) mustRebuild(err error) bool {
	if errors.Is(err, sb.ErrChangesPruned) {
		return true
	}
	for _, target := range a.RebuildOn {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// rebuild replaces the table with a full read of the database.
func (a *Agent) rebuild(ctx context.Context) error {
	start := time.Now()
	t := NewTable(a.Realm)
	cursor, err := a.Feed.OperatorAdmissionSnapshot(ctx, func(e *sb.Endpoint) error {
		t.Put(e)
		return nil
	})
	if err != nil {
		return err
	}
	a.table, a.cursor, a.dirty = t, cursor, true
	a.Log.Info("kamailio sync: read every endpoint", "endpoints", t.Len(), "cursor", cursor, "took", time.Since(start).Round(time.Millisecond))
	return a.save()
}

// flush writes the files whose contents changed and has Kamailio reload
// them. A reload that fails stays owed: Kamailio down is retried when it
// is back (probe), a refused one at the next flush.
func (a *Agent) flush(ctx context.Context) error {
	if a.dirty || a.pushAll {
		if a.pushAll {
			a.files.forget()
		}
		r := a.table.resolve()
		a.report(r.problems)
		addrs, creds, err := a.files.writeResolved(r)
		if err != nil {
			return fmt.Errorf("writing kamailio's files in %s: %w", a.DataDir, err)
		}
		a.addrsOwed = a.addrsOwed || addrs || a.pushAll
		a.credsOwed = a.credsOwed || creds || a.pushAll
		a.dirty, a.pushAll = false, false
	}
	if a.upSince == "" {
		return nil // not reachable: the probe pushes everything when it is back
	}
	cursor := a.cursor
	if a.addrsOwed {
		a.lastReload = time.Now()
		if err := a.Kamailio.ReloadAddresses(ctx); err != nil {
			a.reloadFailed("permissions.addressReload", err)
			return nil
		}
		a.addrsOwed = false
	}
	if a.credsOwed {
		if err := a.Kamailio.ReloadCredentials(ctx); err != nil {
			a.reloadFailed("htable.reload", err)
			return nil
		}
		a.credsOwed = false
	}
	if a.OnApplied != nil {
		a.OnApplied(cursor)
	}
	return nil
}

func (a *Agent) reloadFailed(what string, err error) {
	a.Log.Warn("kamailio sync: reload failed; it will be retried", "rpc", what, "error", err)
	if errors.Is(err, ErrUnreachable) {
		a.upSince = ""
	}
}

// probe notices Kamailio starting or restarting, and owes it every file.
func (a *Agent) probe(ctx context.Context) {
	up, err := a.Kamailio.UpSince(ctx)
	if err != nil {
		if a.upSince != "" {
			a.Log.Warn("kamailio sync: kamailio is not reachable; its data will be pushed again when it is back", "error", err)
		}
		a.upSince = ""
		return
	}
	if up != a.upSince {
		a.Log.Info("kamailio sync: kamailio is up; pushing the whole state", "up_since", up)
		a.upSince, a.pushAll = up, true
	}
}

// report logs the problems that appeared since the last flush.
func (a *Agent) report(problems []Problem) {
	now := make(map[Problem]bool, len(problems))
	for _, p := range problems {
		now[p] = true
		if !a.problems[p] {
			a.Log.Warn("kamailio sync: left out", "partner_sid", p.PartnerSID, "endpoint_sid", p.EndpointSID, "what", p.What, "reason", p.Reason)
		}
	}
	a.problems = now
}

// save writes the table and its cursor to the state directory atomically.
func (a *Agent) save() error {
	sids := make([]string, 0, a.table.Len())
	for sid := range a.table.byEndpoint {
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	err := writeAtomicFunc(filepath.Join(a.StateDir, stateFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		if err := enc.Encode(savedHeader{Cursor: a.cursor, Realm: a.Realm, Endpoints: len(sids)}); err != nil {
			return err
		}
		var line savedEndpoint
		for _, sid := range sids {
			c := a.table.byEndpoint[sid]
			line = savedEndpoint{EndpointSID: sid, PartnerSID: a.table.partnerSIDs[c.partner], Gateway: c.gateway, Addresses: line.Addresses[:0], Credentials: line.Credentials[:0], Problems: c.problems()}
			for r := range c.addresses() {
				line.Addresses = append(line.Addresses, savedAddress{r.addr(), r.port, r.group})
			}
			for _, r := range c.creds() {
				line.Credentials = append(line.Credentials, [2]string{r.username, hex.EncodeToString(r.ha1[:])})
			}
			if err := enc.Encode(&line); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving the agent's state in %s: %w", a.StateDir, err)
	}
	a.savedAt = a.cursor
	return nil
}

// load reads the saved state; an error means a rebuild.
func (a *Agent) load() error {
	f, err := os.Open(filepath.Join(a.StateDir, stateFile))
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	var h savedHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("%s: %w", stateFile, err)
	}
	if h.Realm != a.Realm {
		return fmt.Errorf("the saved state is for realm %q, not %q", h.Realm, a.Realm)
	}
	t := NewTable(a.Realm)
	for range h.Endpoints {
		var e savedEndpoint
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("%s: %w", stateFile, err)
		}
		c := contribution{gateway: e.Gateway}
		for _, r := range e.Addresses {
			if !r.IP.IsValid() || r.IP.Zone() != "" {
				return fmt.Errorf("%s: a bad address %s", stateFile, r.IP)
			}
			c.addAddress(newAddressRecord(r.IP, r.Port, r.Group))
		}
		if len(e.Problems) > 0 {
			c.moreOf().problems = e.Problems
		}
		for _, cr := range e.Credentials {
			var rec credentialRecord
			if n, err := hex.Decode(rec.ha1[:], []byte(cr[1])); err != nil || n != md5.Size {
				return fmt.Errorf("%s: a bad HA1", stateFile)
			}
			rec.username = cr[0]
			m := c.moreOf()
			m.creds = append(m.creds, rec)
		}
		t.put(e.EndpointSID, e.PartnerSID, c)
	}
	if dec.More() {
		return fmt.Errorf("%s: more endpoints than its header says", stateFile)
	}
	a.table, a.cursor, a.savedAt = t, h.Cursor, h.Cursor
	return nil
}
