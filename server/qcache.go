package server

import (
	"sync"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

// queryCache keeps compiled queries (parsed, checked and planned, without
// a snapshot), so a query sent again — dashboards and API clients repeat
// themselves — skips straight to execution. Parsing and planning cost
// about as much as counting a simple segment.
type queryCache struct {
	mu      sync.Mutex
	entries map[queryKey]*exec.Query
}

type queryKey struct {
	dataset, text string
	now           schema.Day
	anyValue      bool
}

// maxCachedQueries bounds the cache; when full it starts over, which is
// crude but cannot grow without bound and costs one compile per query.
const maxCachedQueries = 4096

func newQueryCache() *queryCache { return &queryCache{entries: map[queryKey]*exec.Query{}} }

// get returns the cached query bound to sn, if any still applies.
func (c *queryCache) get(k queryKey, sn *engine.Snapshot) *exec.Query {
	c.mu.Lock()
	t := c.entries[k]
	c.mu.Unlock()
	if t == nil {
		return nil
	}
	q, ok := t.Rebind(sn)
	if !ok {
		return nil
	}
	return q
}

// put keeps q unless it uses saved segments (they change independently).
func (c *queryCache) put(k queryKey, q *exec.Query) {
	if len(q.Checked.Segments) > 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedQueries {
		clear(c.entries)
	}
	c.entries[k] = q.Detached()
}
