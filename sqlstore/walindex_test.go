package sqlstore_test

import (
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// TestPartnerRevisionSeesOtherWritersCommits: a store's PartnerRevision
// answers from its memo only while nothing has committed: after each
// commit through another store on the same file (its own connections, as
// another process's) the next call has the new revision, and with nothing
// committed no statement runs. cmd/switchboard's
// TestProcessesShareOneDatabase does the same through two processes.
func TestPartnerRevisionSeesOtherWritersCommits(t *testing.T) {
	dsn := sqlstoretest.SQLiteDSN(t)
	reader := sqlstoretest.Open(t, dsn)
	writer := sqlstoretest.Open(t, dsn)
	caller := newPartner(t, writer, "caller")
	other := newPartner(t, writer, "other")
	if sqlstore.RevisionsAsked(reader) < 0 {
		t.Fatal("the store on a SQLite file has no revision memo")
	}
	revision := func(c sb.Caller) int64 {
		t.Helper()
		rev, err := reader.PartnerRevision(ctx, c.PartnerSID)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	want := revision(caller)
	for i := range 30 {
		switch i % 3 {
		case 0, 1:
			mustStore(t, writer, caller, sb.Body{"type": "conference"})
			want++
		case 2:
			mustStore(t, writer, other, sb.Body{"type": "conference"}) // a commit, not the caller's
		}
		if got := revision(caller); got != want {
			t.Fatalf("after commit %d through the other store: revision %d, want %d (a stale memo)", i, got, want)
		}
		asked := sqlstore.RevisionsAsked(reader)
		for range 5 {
			if got := revision(caller); got != want {
				t.Fatalf("with nothing committed: revision %d, want %d", got, want)
			}
		}
		if n := sqlstore.RevisionsAsked(reader) - asked; n != 0 {
			t.Fatalf("with nothing committed, %d of 5 look-ups ran the statement", n)
		}
	}
}
