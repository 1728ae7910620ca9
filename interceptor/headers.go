package interceptor

import (
	"sync"
	"sync/atomic"

	"github.com/rollpin/rollpin/backport"
)

// Metadata keys of the wire protocol.
const (
	// HeaderVersion carries the sender's own manifest restricted to the
	// tracks reachable from the method's request and response types. Sent by
	// clients on requests and by servers in response headers.
	HeaderVersion = "rollpin-version"
	// HeaderCap carries the manifest a request was downgraded to; absent
	// when the request was not downgraded.
	HeaderCap = "rollpin-cap"
)

const (
	// maxCachedManifests bounds the parsed-header cache: peers sending ever
	// new header values cannot make it grow (it restarts empty when full).
	maxCachedManifests = 64
	// maxCachedHeaderLen: longer header values are parsed but not cached.
	maxCachedHeaderLen = 1024
)

// manifestCache maps header text to its parsed manifest. Lookups are one
// atomic load and one map access; inserts copy the map under a mutex.
type manifestCache struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]backport.Manifest]
}

// parse returns the manifest of s, from the cache when s was seen before.
// Malformed values are not cached.
func (c *manifestCache) parse(s string) (backport.Manifest, error) {
	if mp := c.m.Load(); mp != nil {
		if m, ok := (*mp)[s]; ok {
			return m, nil
		}
	}
	m, err := backport.ParseManifest(s)
	if err != nil || len(s) > maxCachedHeaderLen {
		return m, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var next map[string]backport.Manifest
	if old == nil || len(*old) >= maxCachedManifests {
		next = make(map[string]backport.Manifest, 1)
	} else {
		next = make(map[string]backport.Manifest, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	next[s] = m
	c.m.Store(&next)
	return m, nil
}

// size reports the number of cached entries (for tests).
func (c *manifestCache) size() int {
	if mp := c.m.Load(); mp != nil {
		return len(*mp)
	}
	return 0
}
