package credential

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The dummy hash an unknown login is compared against costs what a stored
// password costs, so that the two cannot be told apart by their time.
func TestDummyHashHasThePasswordCost(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil || cost != PasswordCost {
		t.Fatalf("dummy hash cost %d (%v), stored passwords have %d", cost, err, PasswordCost)
	}
	stored, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(stored)); c != cost {
		t.Fatalf("HashPassword uses cost %d, the dummy hash %d", c, cost)
	}
}

func TestCheck(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(1, time.Second)
	for _, tc := range []struct {
		name, hash, password string
		want                 error
	}{
		{"right password", hash, "correct horse battery", nil},
		{"wrong password", hash, "correct horse battery!", ErrMismatch},
		{"unknown login", "", "correct horse battery", ErrMismatch},
		{"unknown login, empty password", "", "", ErrMismatch},
	} {
		before := c.Compares()
		if err := c.Check(context.Background(), tc.hash, tc.password); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		// Every outcome costs exactly one comparison: no enumeration oracle.
		if n := c.Compares() - before; n != 1 {
			t.Errorf("%s: %d comparisons, want 1", tc.name, n)
		}
	}
}

// However many checks are asked for at once, at most the checker's slots
// compare at the same time; those that wait longer than its wait get ErrBusy.
func TestCheckerBoundsConcurrentComparisons(t *testing.T) {
	const slots, callers = 2, 40
	c := NewChecker(slots, 50*time.Millisecond)
	release := make(chan struct{})
	var inFlight, most atomic.Int64
	c.Compare = func(hash, password []byte) error {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inFlight.Add(-1)
		return bcrypt.ErrMismatchedHashAndPassword
	}
	var wg sync.WaitGroup
	var busy, mismatch atomic.Int64
	for range callers {
		wg.Go(func() {
			switch err := c.Check(context.Background(), "", "guess"); {
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			case errors.Is(err, ErrMismatch):
				mismatch.Add(1)
			default:
				t.Errorf("Check: %v", err)
			}
		})
	}
	// Every caller is comparing or has given up before any comparison ends.
	for busy.Load()+inFlight.Load() < callers {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if most.Load() != slots || mismatch.Load() != slots || busy.Load() != callers-slots {
		t.Fatalf("%d callers, %d slots: at most %d compared at once, %d mismatched, %d busy", callers, slots, most.Load(), mismatch.Load(), busy.Load())
	}
}

func TestCheckWaitEndsWithTheContext(t *testing.T) {
	c := NewChecker(1, time.Hour)
	c.slots <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Check(ctx, "", "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with an ended context: %v", err)
	}
}

func TestCheckLoginAndPassword(t *testing.T) {
	for _, tc := range []struct {
		login, password string
		ok              bool
	}{
		{"acme", "twelve chars", true},
		{"acme", "ünïcödé-pässwörd", true},
		{"acme", "eleven char", false},
		{"acme", strings.Repeat("x", 73), false},
		{"acme", strings.Repeat("x", 72), true},
		{"ac:me", "twelve chars", false},
		{":", "twelve chars", false},
		{"", "twelve chars", false},
		{"ac\nme", "twelve chars", false},
	} {
		err := CheckLogin(tc.login)
		if err == nil {
			err = CheckPassword(tc.password)
		}
		if (err == nil) != tc.ok {
			t.Errorf("login %q password %q: %v, want ok=%v", tc.login, tc.password, err, tc.ok)
		}
	}
}
