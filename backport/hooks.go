package backport

import (
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// hookTable is a copy-on-write registry read with one atomic load.
type hookTable[F any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[protoreflect.FullName]F]
}

func (h *hookTable[F]) set(name protoreflect.FullName, fn F, remove bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := map[protoreflect.FullName]F{}
	if cur := h.m.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	if remove {
		delete(next, name)
	} else {
		next[name] = fn
	}
	h.m.Store(&next)
}

func (h *hookTable[F]) get(name protoreflect.FullName) (F, bool) {
	var zero F
	cur := h.m.Load()
	if cur == nil {
		return zero, false
	}
	f, ok := (*cur)[name]
	return f, ok
}

func (h *hookTable[F]) empty() bool {
	cur := h.m.Load()
	return cur == nil || len(*cur) == 0
}
