package pinclient

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rollpin/rollpin/backport"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

// FuzzSnapshotFile feeds arbitrary bytes to the snapshot file loader: it
// must fail cleanly or produce a snapshot whose every cap is Min(pin, floor)
// of a state it holds.
func FuzzSnapshotFile(f *testing.F) {
	seed := &Snapshot{}
	seed = seed.apply([]*rollpinv1.PinUpdate{{Revision: 9, Snapshot: true, Services: []*rollpinv1.ServiceState{
		{Service: "acme.volume.v1.VolumeService", Pin: &rollpinv1.Pin{Manifest: "acme.volume.v1=1.3"}, Floor: "acme.types.v1=2.0,acme.volume.v1=1.4"},
		{Service: "acme.x.v1.X", Floor: "acme.x.v1=1.0"},
		{Service: "acme.bad.v1.Bad", Pin: &rollpinv1.Pin{Manifest: "not a manifest"}, EffectiveCap: "acme.bad.v1=1.1"},
	}}}, quietLog)
	b, err := protojson.Marshal(seed.toUpdate())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"revision":"3","services":[{"service":"a.B","floor":"a=1.0"}],"removed":["a.B"]}`))
	f.Add([]byte(`{not json`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "pins.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := readSnapshotFile(path, quietLog)
		if err != nil {
			return
		}
		if s.Synced() {
			t.Errorf("snapshot from a file reports Synced")
		}
		for _, name := range s.Services() {
			st, _ := s.State(name)
			m, ok := s.Cap(name)
			if !ok {
				continue // unparsable: no cap rather than a wrong one
			}
			want, err := effectiveCap(st)
			if err != nil || !m.Equal(want) {
				t.Errorf("Cap(%q) = %v, want %v (err %v)", name, m, want, err)
			}
			if pin, err := backport.ParseManifest(st.GetPin().GetManifest()); err == nil {
				if floor, err := backport.ParseManifest(st.GetFloor()); err == nil && !pin.Covers(m) && !floor.Covers(m) {
					t.Errorf("Cap(%q) = %v is above both pin %v and floor %v", name, m, pin, floor)
				}
			}
		}
		// Round trip: what is loaded writes back to an equivalent file.
		if err := writeSnapshotFile(path, s); err != nil {
			t.Fatalf("writeSnapshotFile: %v", err)
		}
		s2, err := readSnapshotFile(path, quietLog)
		if err != nil {
			t.Fatalf("re-read snapshot file: %v", err)
		}
		if len(s2.Services()) != len(s.Services()) || s2.Revision() != s.Revision() {
			t.Errorf("round trip: %d services at %d, want %d at %d", len(s2.Services()), s2.Revision(), len(s.Services()), s.Revision())
		}
	})
}
