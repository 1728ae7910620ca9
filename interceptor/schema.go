package interceptor

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
)

// reachableTracks returns the tracks reachable from the method's request
// and response types, sorted and without duplicates.
func reachableTracks(eng *backport.Engine, md protoreflect.MethodDescriptor) []string {
	ts := append(eng.ReachableTracks(md.Input()), eng.ReachableTracks(md.Output())...)
	slices.Sort(ts)
	return slices.Compact(ts)
}
