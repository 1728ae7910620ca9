package interceptor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/rollpin/rollpin/interceptor/internal/testapi/current/rollpin/itest/v1"
)

const testCreate = "/rollpin.itest.v1.VolumeService/Create"

func TestManifestCacheIsBounded(t *testing.T) {
	t.Parallel()
	var c manifestCache
	for i := range 10 * maxCachedManifests {
		s := fmt.Sprintf("a.b=1.%d", i)
		m, err := c.parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != s {
			t.Fatalf("parse(%q) = %q", s, m)
		}
		if n := c.size(); n > maxCachedManifests {
			t.Fatalf("after %d distinct headers the cache holds %d entries, want at most %d", i+1, n, maxCachedManifests)
		}
	}
	if _, err := c.parse("a.b=x"); err == nil {
		t.Errorf("parse of a malformed header succeeded")
	}
	long := "a.b=1.1"
	for i := 0; len(long) <= maxCachedHeaderLen; i++ {
		long += fmt.Sprintf(",t%d=1.0", i)
	}
	before := c.size()
	if _, err := c.parse(long); err != nil {
		t.Fatal(err)
	}
	if c.size() > before && c.size() != 1 {
		t.Errorf("a %d-byte header was cached", len(long))
	}
}

func TestCachedHeaderAllocatesNothing(t *testing.T) {
	var c manifestCache
	if _, err := c.parse("rollpin.itest.v1=1.1"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.parse("rollpin.itest.v1=1.1") }); n != 0 {
		t.Errorf("parse of a cached header: %v allocs, want 0", n)
	}
}

// FuzzIncomingHeaders feeds arbitrary header values to the server side: it
// must never panic, and must answer either success, INVALID_ARGUMENT (does
// not parse) or FAILED_PRECONDITION (newer than the server).
func FuzzIncomingHeaders(f *testing.F) {
	for _, seed := range [][2]string{
		{"rollpin.itest.v1=1.2", ""},
		{"rollpin.itest.v1=1.1", ""},
		{"rollpin.itest.v1=1.3", "rollpin.itest.v1=1.1"},
		{"rollpin.itest.v1=1.3", ""},
		{"other.v1=9.9,rollpin.itest.v1=1.2", "other.v1=1.0"},
		{"", ""},
		{"rollpin.itest.v1=1.2,rollpin.itest.v1=1.2", ""},
		{"rollpin.itest.v1=4294967296.0", ""},
		{"=", ","},
		{"rollpin.itest.v1=1.2", "garbage"},
		{"rollpin.itest.v1=1.2\nrollpin.itest.v1=1.0", ""},
		{"", "rollpin.itest.v1=1.1"},
		{"other.v1=1.0", "rollpin.itest.v1=1.1\nrollpin.itest.v1=1.1"},
	} {
		f.Add(seed[0], seed[1])
	}
	c := newCore(evaluateOptions(nil))
	m := c.method(testCreate)
	if m == nil {
		f.Fatal("test method not found")
	}
	// A newline in an input separates repeated values of one header.
	f.Fuzz(func(t *testing.T, version, cap string) {
		md := metadata.MD{}
		if version != "" {
			md[HeaderVersion] = strings.Split(version, "\n")
		}
		if cap != "" {
			md[HeaderCap] = strings.Split(cap, "\n")
		}
		p, err := c.incoming(metadata.NewIncomingContext(context.Background(), md), m)
		repeated := len(md[HeaderVersion]) > 1 || len(md[HeaderCap]) > 1
		if repeated && status.Code(err) != codes.InvalidArgument {
			t.Errorf("incoming(%q, %q) = %v, want INVALID_ARGUMENT for a repeated header", version, cap, err)
		}
		switch status.Code(err) {
		case codes.OK:
			if !c.own.Covers(p.sent) {
				t.Errorf("accepted %q/%q although it is newer than %s", version, cap, c.own)
			}
		case codes.InvalidArgument, codes.FailedPrecondition:
		default:
			t.Errorf("incoming(%q, %q) = %v, want OK, INVALID_ARGUMENT or FAILED_PRECONDITION", version, cap, err)
		}
		if c.headers.size() > maxCachedManifests {
			t.Errorf("header cache holds %d entries", c.headers.size())
		}
	})
}

// TestIncomingRemembersOnePair: the server keeps the outcome of the last
// accepted pair of header values per method, keyed by both values, and
// never answers one pair with another's outcome.
func TestIncomingRemembersOnePair(t *testing.T) {
	c := newCore(evaluateOptions(nil))
	m := c.method(testCreate)
	if m == nil {
		t.Fatal("test method not found")
	}
	call := func(version, cap string) (peerCall, error) {
		md := metadata.MD{HeaderVersion: {version}}
		if cap != "" {
			md[HeaderCap] = []string{cap}
		}
		return c.incoming(metadata.NewIncomingContext(context.Background(), md), m)
	}
	for range 2 {
		p, err := call("rollpin.itest.v1=1.9", "rollpin.itest.v1=1.1")
		if err != nil || p.sent.String() != "rollpin.itest.v1=1.1" || !p.fill || p.down {
			t.Fatalf("1.9 capped at 1.1: %+v, %v; want sent 1.1, fill, no downgrade", p, err)
		}
		if e := m.peerCache.Load(); e == nil || e.version != "rollpin.itest.v1=1.9" || e.cap != "rollpin.itest.v1=1.1" {
			t.Fatalf("cached pair = %+v", e)
		}
		// Same version without the cap: newer than the server, refused.
		if _, err := call("rollpin.itest.v1=1.9", ""); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("1.9 uncapped: %v, want FAILED_PRECONDITION", err)
		}
		p, err = call("rollpin.itest.v1=1.1", "")
		if err != nil || p.client.String() != "rollpin.itest.v1=1.1" || !p.fill || !p.down {
			t.Fatalf("1.1: %+v, %v; want client 1.1, fill and downgrade", p, err)
		}
	}
	if _, err := call("rollpin.itest.v1=1.1", ""); err != nil {
		t.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{HeaderVersion: {"rollpin.itest.v1=1.1"}})
	// One allocation: grpc-go's copy of the version header value.
	if n := testing.AllocsPerRun(100, func() { _, _ = c.incoming(ctx, m) }); n > 1 {
		t.Errorf("incoming with the remembered pair: %v allocs, want at most 1", n)
	}
	// The caller's own version, and a cap alone: the same, by the header rules.
	for _, md := range []metadata.MD{
		{HeaderVersion: {m.ownHeader}},
		{HeaderCap: {"rollpin.itest.v1=1.1"}},
	} {
		ctx := metadata.NewIncomingContext(context.Background(), md)
		if _, err := c.incoming(ctx, m); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = c.incoming(ctx, m) }); n > 1 {
			t.Errorf("incoming(%v): %v allocs, want at most 1", md, n)
		}
	}
}

// TestMethodWithoutTracksNeedsNoHeader: a method whose messages reach no
// versioned track cannot be misread, so the server accepts its requests
// with or without (empty) headers, even under NoHeadersReject.
func TestMethodWithoutTracksNeedsNoHeader(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("plain/v1/plain.proto"),
		Package:     proto.String("plain.v1"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   proto.String("S"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: proto.String("Do"), InputType: proto.String(".plain.v1.M"), OutputType: proto.String(".plain.v1.M")}},
		}},
	}
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		t.Fatal(err)
	}
	c := newCore(evaluateOptions([]Option{WithFiles(files), WithNoHeaders(NoHeadersReject)}))
	m := c.method("/plain.v1.S/Do")
	if m == nil || !m.own.IsEmpty() {
		t.Fatalf("method = %+v, want a method without tracks", m)
	}
	for _, md := range []metadata.MD{
		{},
		{HeaderVersion: {""}},
		{HeaderVersion: {"other.v1=1.0"}},
	} {
		if _, err := c.incoming(metadata.NewIncomingContext(context.Background(), md), m); err != nil {
			t.Errorf("incoming(%v) = %v, want accepted", md, err)
		}
	}
}
