package pinclient

import (
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rollpin/rollpin/backport"
)

// Registration describes the instance a serving process announces to pind.
// A Client built WithRegistration holds a Register stream instead of a
// WatchPins stream, and the instance stays live while that stream is open.
type Registration struct {
	// ID identifies the instance uniquely among the instances of its
	// services (host:port, pod name, ...); pind refuses a second live
	// registration of the same ID (ALREADY_EXISTS). Required.
	ID string
	// Services are the full names of the gRPC services the process serves;
	// ServicesOf derives them from a *grpc.Server. Required.
	Services []string
	// Manifest is the instance's own manifest. The zero value means
	// ManifestFor(Services): this binary's manifest restricted to the tracks
	// reachable from the services.
	Manifest backport.Manifest
	// Build is a free-form build identifier (version, commit).
	Build string
	// Address is where the instance serves, if known.
	Address string
}

// ServiceInfoProvider is implemented by *grpc.Server (and any other
// registrar that can list its services).
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// ServicesOf returns the sorted full names of the services registered on s,
// leaving out gRPC's own infrastructure services (names starting with
// "grpc.", such as health and reflection), which are not versioned.
func ServicesOf(s ServiceInfoProvider) []string {
	var out []string
	for name := range s.GetServiceInfo() {
		if strings.HasPrefix(name, "grpc.") {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// ManifestFor returns this binary's own manifest (backport.OwnManifest)
// restricted to the tracks reachable from the request and response types of
// the given services, as found in protoregistry.GlobalFiles. An unrelated
// library linked at an older version then cannot fence the instance. When
// none of the services is in the registry (dynamic descriptors), it returns
// the whole own manifest.
func ManifestFor(services []string) backport.Manifest {
	own := backport.OwnManifest()
	tracks, found := reachableTracks(protoregistry.GlobalFiles, services)
	if !found {
		return own
	}
	return own.Restrict(tracks...)
}

// reachableTracks returns the proto packages of every service, message and
// enum reachable from the named services. found is false when no service
// was found in files.
func reachableTracks(files *protoregistry.Files, services []string) (tracks []string, found bool) {
	pkgs := map[protoreflect.FullName]bool{}
	seen := map[protoreflect.FullName]bool{}
	var walkMsg func(md protoreflect.MessageDescriptor)
	walkMsg = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		pkgs[md.ParentFile().Package()] = true
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if m := fd.Message(); m != nil {
				walkMsg(m)
			}
			if e := fd.Enum(); e != nil {
				pkgs[e.ParentFile().Package()] = true
			}
		}
	}
	for _, name := range services {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		found = true
		pkgs[sd.ParentFile().Package()] = true
		methods := sd.Methods()
		for i := 0; i < methods.Len(); i++ {
			walkMsg(methods.Get(i).Input())
			walkMsg(methods.Get(i).Output())
		}
	}
	for p := range pkgs {
		tracks = append(tracks, string(p))
	}
	slices.Sort(tracks)
	return tracks, found
}
