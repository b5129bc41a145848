package httpapi

import (
	"context"
	"strings"
	"sync"

	"github.com/google/uuid"

	sb "github.com/switchboard-sip/switchboard"
)

// GET by SID answers from a cache of encoded answers (each endpoint's JSON
// as GET writes it without view arguments), so that a hit decodes and
// encodes nothing (it hashes the JSON for the ETag). The cache is exact,
// not eventually right:
// a GET the cache can answer first reads the partner's change feed revision
// from the database (one small indexed read, where a miss reads the whole
// row, as without the cache), so
// a write committed before the GET began, by this process, another server
// or the CLI, on SQLite or PostgreSQL, is seen. When the revision is ahead
// of what the cache has applied, the SIDs changed since are read from the
// feed and their answers dropped before any answer is served
// (docs/decisions.md, "Answers without decoding").
//
// Invariant: for each partner, every answer kept is the endpoint's state
// at every revision from its own (at) up to the partner's applied (when
// applied is the lower, from at until the next change to the endpoint, which
// a catch-up past at drops). An
// answer read at a revision below applied is not kept (a change between
// the two may have been applied already); one read above it may be, and a
// later catch-up may drop it needlessly, never wrongly.

// DefaultAnswerCacheBytes bounds the cache when Server.AnswerCacheBytes is 0.
const DefaultAnswerCacheBytes = 64 << 20

// answerOverhead is what a kept answer costs beyond its JSON's allocation:
// the cachedAnswer and its share of the map. Measured, not guessed
// (TestAnswerCacheCountsWhatItHolds); counting a hundred bytes too many
// once kept 64 MiB from holding the 100,000 answers it had room for.
const answerOverhead = 68

// answerCost is what keeping an answer's JSON costs the cache's limit.
func answerCost(data []byte) int { return cap(data) + answerOverhead }

// sidKey is an endpoint's SID as the cache's key: its 16 bytes, where the
// text would cost a string of 36 (48 with the allocator's rounding) per
// answer. Only the canonical, lower-case spelling has a key; the cache
// neither answers nor keeps another (its GET reads the store, as without
// the cache), so no two spellings ever share an entry.
type sidKey [16]byte

func keyOf(sid string) (sidKey, bool) {
	u, err := uuid.Parse(sid)
	if err != nil || len(sid) != 36 || strings.ContainsAny(sid, "ABCDEF") {
		return sidKey{}, false
	}
	return sidKey(u), true
}

// maxCatchUp is how many changes a catch-up reads; more, and the partner's
// answers are all dropped instead.
const maxCatchUp = 4096

type answerCache struct {
	store sb.Store
	limit int

	mu       sync.RWMutex
	size     int
	partners map[string]*partnerAnswers
}

type partnerAnswers struct {
	applied int64 // every change up to it has dropped its answer
	answers map[sidKey]*cachedAnswer
	// catchUp lets one request at a time read the partner's changes.
	catchUp sync.Mutex
}

// cachedAnswer holds no ETag: a hit hashes its JSON again (3.5 % of a GET
// run's CPU), where keeping the tag would cost 32 bytes an answer, 5 % of
// what the cache can hold (docs/decisions.md).
type cachedAnswer struct {
	data []byte
	at   int64
}

// newAnswerCache returns a cache of at most limit bytes (0: the default;
// below 0: none, nil).
func newAnswerCache(store sb.Store, limit int) *answerCache {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = DefaultAnswerCacheBytes
	}
	return &answerCache{store: store, limit: limit, partners: map[string]*partnerAnswers{}}
}

// endpointAnswer is GET's answer without view arguments: the JSON, its
// ETag and the revision it holds every change up to (and none after).
type endpointAnswer struct {
	data     []byte
	etag     string
	revision int64
}

// get returns the endpoint's answer: from the cache when it is there and
// nothing changed it since, else read with read (and kept). A miss reads
// once, as without the cache: a fresh read needs no revision check.
func (c *answerCache) get(ctx context.Context, partnerSID, sid string, read func() (endpointAnswer, error)) (endpointAnswer, error) {
	key, ok := keyOf(sid)
	if !ok {
		return read()
	}
	c.mu.RLock()
	p := c.partners[partnerSID]
	kept := p != nil && p.answers[key] != nil
	c.mu.RUnlock()
	if kept {
		rev, err := c.store.PartnerRevision(ctx, partnerSID)
		if err != nil {
			return endpointAnswer{}, err
		}
		if err := c.catchUp(ctx, partnerSID, p, rev); err != nil {
			return endpointAnswer{}, err
		}
		c.mu.RLock()
		a, applied := p.answers[key], p.applied
		c.mu.RUnlock()
		if a != nil {
			return endpointAnswer{a.data, etagOf(a.data), max(applied, a.at)}, nil
		}
	}
	ans, err := read()
	if err != nil {
		return ans, err
	}
	c.keep(partnerSID, sid, ans)
	return ans, nil
}

// forList prepares a list answer's use of the cache: it returns the list
// query's Held and the answers Held said the list holds, by SID. An answer
// is held at the page's revision rev when it is the endpoint's state there:
// kept at or below rev, with every change up to rev applied. A page read
// after writes the cache has not applied yet holds none (and afterList
// catches the cache up), so that a list makes no statement more than
// without the cache. held is nil when the partner has no answers kept.
func (c *answerCache) forList(partnerSID string) (held func(sid string, rev int64) bool, answers map[string][]byte) {
	c.mu.RLock()
	p := c.partners[partnerSID]
	c.mu.RUnlock()
	if p == nil {
		return nil, nil
	}
	answers = map[string][]byte{}
	return func(sid string, rev int64) bool {
		key, ok := keyOf(sid)
		if !ok {
			return false
		}
		c.mu.RLock()
		defer c.mu.RUnlock()
		a := p.answers[key]
		if a == nil || a.at > rev || p.applied < rev {
			return false
		}
		answers[sid] = a.data
		return true
	}, answers
}

// afterList catches the partner's answers up to a list's revision, after
// its answer was sent, so that the next list can use them.
func (c *answerCache) afterList(ctx context.Context, partnerSID string, rev int64) error {
	c.mu.RLock()
	p := c.partners[partnerSID]
	c.mu.RUnlock()
	if p == nil {
		return nil
	}
	return c.catchUp(ctx, partnerSID, p, rev)
}

// catchUp drops the answers of p's endpoints changed up to rev.
func (c *answerCache) catchUp(ctx context.Context, partnerSID string, p *partnerAnswers, rev int64) error {
	c.mu.RLock()
	fresh := p.applied >= rev
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	p.catchUp.Lock()
	defer p.catchUp.Unlock()
	c.mu.RLock()
	since := p.applied
	c.mu.RUnlock()
	if since >= rev {
		return nil // another request caught up meanwhile
	}
	sids, current, complete, err := c.store.EndpointsChangedSince(ctx, partnerSID, since, maxCatchUp)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !complete {
		for key, a := range p.answers {
			c.drop(p, key, a)
		}
	}
	for _, sid := range sids {
		key, ok := keyOf(sid)
		if a := p.answers[key]; ok && a != nil {
			c.drop(p, key, a)
		}
	}
	p.applied = max(p.applied, current)
	return nil
}

// keep stores an answer read on its own snapshot, unless a change after
// its revision may already have been applied.
func (c *answerCache) keep(partnerSID, sid string, ans endpointAnswer) {
	key, ok := keyOf(sid)
	if !ok {
		return
	}
	cost := answerCost(ans.data)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.partners[partnerSID]
	if p == nil {
		// Nothing kept yet, so nothing to drop: applied from here.
		p = &partnerAnswers{applied: ans.revision, answers: map[sidKey]*cachedAnswer{}}
		c.partners[partnerSID] = p
	}
	if ans.revision < p.applied || cost > c.limit/8 {
		return
	}
	if old := p.answers[key]; old != nil {
		c.drop(p, key, old)
	}
	for c.size+cost > c.limit && c.evict() {
	}
	p.answers[key] = &cachedAnswer{data: ans.data, at: ans.revision}
	c.size += cost
}

func (c *answerCache) drop(p *partnerAnswers, key sidKey, a *cachedAnswer) {
	delete(p.answers, key)
	c.size -= answerCost(a.data)
}

// evict drops about an eighth of the answers, chosen by map order (about
// at random): under uniform reads as good as least recently used, and free
// of bookkeeping on the hits.
// It reports whether it dropped any.
func (c *answerCache) evict() bool {
	target, dropped := c.size-c.limit/8, false
	for _, p := range c.partners {
		for key, a := range p.answers {
			c.drop(p, key, a)
			if dropped = true; c.size <= target {
				return true
			}
		}
	}
	return dropped
}
