package pinsvc

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/refusal"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// MaxReleaseNameLen bounds Release.name.
const MaxReleaseNameLen = 64

// Release keys:
//
//	<prefix>releases/<name>   proto-encoded rollpinv1.Release
func (k keys) release(name string) string { return k.prefix + "releases/" + name }
func (k keys) releases() string           { return k.prefix + "releases/" }

// checkReleaseName accepts 1 to MaxReleaseNameLen ASCII letters, digits,
// '.', '_' and '-', starting with a letter or digit.
func checkReleaseName(name string) error {
	bad := func(why string) error {
		return refusal.Error(codes.InvalidArgument, refusal.InvalidRequest,
			fmt.Sprintf("release name %q %s: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most %d bytes (\"liberty\", \"2026.03\")", name, why, MaxReleaseNameLen),
			map[string]string{"field": "name"})
	}
	if name == "" {
		return bad("is empty")
	}
	if len(name) > MaxReleaseNameLen {
		return bad("is too long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return bad(fmt.Sprintf("has %q at byte %d", c, i))
		}
	}
	return nil
}

// RecordRelease stores a named manifest; see the PinService contract.
func (s *Server) RecordRelease(ctx context.Context, req *rollpinv1.RecordReleaseRequest) (resp *rollpinv1.RecordReleaseResponse, err error) {
	defer func() { s.metrics.write("RecordRelease", err) }()
	by, err := s.authorize(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkReleaseName(req.GetName()); err != nil {
		return nil, err
	}
	if err := checkText("reason", req.GetReason(), MaxReasonLen); err != nil {
		return nil, err
	}
	if len(req.GetManifest()) > MaxManifestLen {
		return nil, invalid("manifest is %d bytes long, the limit is %d", len(req.GetManifest()), MaxManifestLen)
	}
	m, err := backport.ParseManifest(req.GetManifest())
	if err != nil || m.IsEmpty() {
		return nil, refusal.Error(codes.InvalidArgument, refusal.InvalidRequest,
			fmt.Sprintf("manifest %q is not a manifest (%v): give track=MAJOR.MINOR entries joined by ',' (acme.volume.v1=1.3,acme.types.v1=2.0)", req.GetManifest(), err),
			map[string]string{"field": "manifest"})
	}
	rel := &rollpinv1.Release{Name: req.GetName(), Manifest: m.String(), RecordedBy: by, RecordedAt: ts(time.Now()), Reason: req.GetReason()}
	key := s.keys.release(req.GetName())
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, marshal(rel))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, grpcError(fmt.Errorf("pinsvc: record release %s: %w", req.GetName(), err))
	}
	if tr.Succeeded {
		rel.Revision = tr.Header.Revision
		s.log.Info("release recorded", "release", rel.GetName(), "manifest", rel.GetManifest(), "by", by)
		return &rollpinv1.RecordReleaseResponse{Release: rel, Created: true}, nil
	}
	kvs := tr.Responses[0].GetResponseRange().GetKvs()
	old := &rollpinv1.Release{}
	if len(kvs) == 1 {
		if err := proto.Unmarshal(kvs[0].Value, old); err != nil {
			return nil, grpcstatus.Errorf(codes.Internal, "stored release %s is unreadable (%v): delete the key and record it again", req.GetName(), err)
		}
		old.Revision = kvs[0].CreateRevision
	}
	if old.GetManifest() != rel.GetManifest() {
		return nil, refusal.Error(codes.AlreadyExists, refusal.ReleaseExists,
			fmt.Sprintf("release %s is already recorded as %s (by %s): releases never change; record the new manifest under another name", req.GetName(), old.GetManifest(), old.GetRecordedBy()),
			map[string]string{"release": req.GetName()})
	}
	return &rollpinv1.RecordReleaseResponse{Release: old}, nil
}

// ListReleases lists the recorded releases (or one), oldest first.
func (s *Server) ListReleases(ctx context.Context, req *rollpinv1.ListReleasesRequest) (*rollpinv1.ListReleasesResponse, error) {
	key, opts := s.keys.releases(), []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
	if name := req.GetName(); name != "" {
		if err := checkReleaseName(name); err != nil {
			return nil, err
		}
		key, opts = s.keys.release(name), nil
	}
	resp, err := s.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, grpcError(fmt.Errorf("pinsvc: list releases: %w", err))
	}
	if req.GetName() != "" && len(resp.Kvs) == 0 {
		return nil, refusal.Error(codes.NotFound, refusal.UnknownRelease,
			fmt.Sprintf("no release %s: pindctl release list shows the recorded ones; record it with pindctl release record", req.GetName()),
			map[string]string{"release": req.GetName()})
	}
	out := &rollpinv1.ListReleasesResponse{}
	for _, kv := range resp.Kvs {
		r := &rollpinv1.Release{}
		if proto.Unmarshal(kv.Value, r) != nil {
			continue
		}
		r.Revision = kv.CreateRevision
		out.Releases = append(out.Releases, r)
	}
	return out, nil
}
