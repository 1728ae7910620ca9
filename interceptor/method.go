package interceptor

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
)

// method is what the interceptors know about one full method name, computed
// once. It is immutable except for capCache.
type method struct {
	full    string // "/pkg.Service/Method"
	service string // "pkg.Service"
	desc    protoreflect.MethodDescriptor

	track    string // package of the service; "" when unversioned
	since    backport.Version
	hasSince bool

	own       backport.Manifest // own manifest restricted to the reachable tracks
	tracks    []string          // the tracks of own, sorted
	ownHeader string            // own.String()
	ownMD     metadata.MD       // rollpin-version: ownHeader (shared, never mutated)

	fallback    *method // resolved WithFallback target, or nil
	fallbackErr error   // why the registered fallback cannot be used

	err error // descriptor problem; calls fail with Internal

	capCache  atomic.Pointer[capState]
	peerCache atomic.Pointer[peerEntry] // the server's last accepted header pair
}

// peerEntry is what the server learned from one pair of header values.
type peerEntry struct {
	version, cap string // rollpin-version and rollpin-cap ("" when absent)
	p            peerCall
}

// capState is the client's view of one method under one cap, cached on the
// method for as long as the cap does not change.
type capState struct {
	cap        backport.Manifest // as returned by the PinSource
	restricted backport.Manifest // cap restricted to the method's tracks
	// below: the cap is older than this binary on some reachable track, so
	// requests are downgraded and rollpin-cap is sent.
	below bool
	// serverMayBeOlder: some reachable track is uncapped or capped below this
	// binary, so responses may need defaults filled.
	serverMayBeOlder bool
	// uncapped: some reachable track is not in the cap, so nothing bounds
	// the server's version there.
	uncapped   bool
	md         metadata.MD // rollpin-version (+ rollpin-cap when below)
	tooNew     bool        // method since above the cap
	capVersion backport.Version
}

// core is the state shared by one interceptor instance: options, the own
// manifest of its files, and the per-method cache.
type core struct {
	o   *options
	own backport.Manifest
	obs backport.Observer // o.reporter as an Observer, nil when none
	eng *backport.Engine  // finds package declarations in o.files

	mu      sync.Mutex
	methods atomic.Pointer[map[string]*method] // copy-on-write
	headers manifestCache
}

func newCore(o *options) *core {
	c := &core{o: o, eng: backport.Default()}
	if o.files == protoregistry.GlobalFiles {
		c.own = backport.OwnManifest()
	} else {
		// An engine of its own finds the package declarations of
		// descriptors that are not linked into the binary; nothing is
		// registered globally.
		c.eng = backport.New(backport.WithFiles(o.files))
		c.own = backport.ManifestOf(o.files)
	}
	if o.reporter != nil {
		c.obs = o.reporter
	}
	return c
}

// method returns the cached description of fullMethod, or nil when the
// method is not in the files (such calls pass through untouched). Unknown
// names are not cached, so arbitrary names cannot grow the cache.
func (c *core) method(fullMethod string) *method {
	if mp := c.methods.Load(); mp != nil {
		if m, ok := (*mp)[fullMethod]; ok {
			return m
		}
	}
	m := c.build(fullMethod, true)
	if m == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.methods.Load()
	if old != nil {
		if prev, ok := (*old)[fullMethod]; ok {
			return prev
		}
	}
	next := make(map[string]*method, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[fullMethod] = m
	c.methods.Store(&next)
	return m
}

func lenOf(m *map[string]*method) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// splitMethod splits "/pkg.Service/Method" into service and method names.
func splitMethod(fullMethod string) (service, name string, ok bool) {
	s := strings.TrimPrefix(fullMethod, "/")
	i := strings.LastIndexByte(s, '/')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// build describes fullMethod from the files; withFallback resolves a
// registered fallback (one level only).
func (c *core) build(fullMethod string, withFallback bool) *method {
	service, name, ok := splitMethod(fullMethod)
	if !ok {
		return nil
	}
	d, err := c.o.files.FindDescriptorByName(protoreflect.FullName(service + "." + name))
	if err != nil {
		return nil
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil
	}
	m := &method{full: fullMethod, service: service, desc: md}
	m.since, m.track, m.hasSince, m.err = c.eng.MethodSince(md)
	m.own = c.own.Restrict(reachableTracks(c.eng, md)...)
	m.tracks = trackNames(m.own)
	m.ownHeader = m.own.String()
	m.ownMD = metadata.MD{HeaderVersion: {m.ownHeader}}
	if fb, ok := c.o.fallbacks[fullMethod]; ok && withFallback {
		f := c.build(fb, false)
		switch {
		case f == nil:
			m.fallbackErr = fmt.Errorf("fallback %s is not a method of the known schema", fb)
		case f.desc.Input().FullName() != md.Input().FullName() || f.desc.Output().FullName() != md.Output().FullName():
			m.fallbackErr = fmt.Errorf("fallback %s takes %s and returns %s, but %s takes %s and returns %s",
				fb, f.desc.Input().FullName(), f.desc.Output().FullName(), fullMethod, md.Input().FullName(), md.Output().FullName())
		case f.desc.IsStreamingClient() != md.IsStreamingClient() || f.desc.IsStreamingServer() != md.IsStreamingServer():
			m.fallbackErr = fmt.Errorf("fallback %s does not stream like %s", fb, fullMethod)
		default:
			m.fallback = f
		}
	}
	return m
}

// capFor returns the client's state of m under cap, from the method's
// one-entry cache when the cap did not change.
func (m *method) capFor(cap backport.Manifest) *capState {
	if s := m.capCache.Load(); s != nil && s.cap.Equal(cap) {
		return s
	}
	s := &capState{cap: cap}
	s.restricted = cap.Restrict(m.tracks...)
	s.below = !s.restricted.Covers(m.own)
	s.uncapped = s.restricted.Len() < m.own.Len()
	s.serverMayBeOlder = s.below || s.uncapped
	if m.hasSince && m.track != "" {
		if v, ok := cap.Get(m.track); ok && v.Less(m.since) {
			s.tooNew = true
			s.capVersion = v
		}
	}
	if s.below {
		h := s.restricted.String()
		s.md = metadata.MD{HeaderVersion: {m.ownHeader}, HeaderCap: {h}}
	} else {
		s.md = m.ownMD
	}
	m.capCache.Store(s)
	return s
}

func trackNames(m backport.Manifest) []string {
	es := m.Entries()
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Track
	}
	return out
}
