package pinsvc

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rollpin/rollpin/backport"
	"github.com/rollpin/rollpin/internal/etcdtest"
	rollpinv1 "github.com/rollpin/rollpin/proto/rollpin/v1"
)

func TestBadInputs(t *testing.T) {
	t.Parallel()
	cli := etcdtest.Start(t).Client(t)
	ts := startServer(t, cli)
	c := ts.cli
	mustSetPin(t, c, testSvc, "1.3", true)
	long := strings.Repeat("a", MaxServiceNameLen+1)
	inst := func(id, m string) *rollpinv1.Instance { return &rollpinv1.Instance{Id: id, Manifest: m} }
	register := func(req *rollpinv1.RegisterRequest) error {
		st, err := c.Register(ctxT(t), req)
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
		msg  string // substring of the message
	}{
		{"SetPin empty service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Manifest: "1.3"})
			return err
		}, codes.InvalidArgument, "service is empty"},
		{"SetPin path in service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "../instances/x", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "empty name component"},
		{"SetPin slash in service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "a/b.C", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "not allowed"},
		{"SetPin dotdot in service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "a..C", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "doubled dot"},
		{"SetPin control char in service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "a.b\x00C", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, `\x00`},
		{"SetPin long service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: long, Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "limit"},
		{"SetPin digit component", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "acme.1v.S", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "starts with a digit"},
		{"SetPin bad version", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.x"})
			return err
		}, codes.InvalidArgument, "MAJOR.MINOR"},
		{"SetPin signed version", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "-1.3"})
			return err
		}, codes.InvalidArgument, "MAJOR.MINOR"},
		{"SetPin bad manifest", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "acme.volume.v1=1.3,acme.volume.v1=1.4"})
			return err
		}, codes.InvalidArgument, "twice"},
		{"SetPin empty manifest", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc})
			return err
		}, codes.InvalidArgument, "manifest is empty"},
		{"SetPin huge manifest", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: strings.Repeat("a", MaxManifestLen+1)})
			return err
		}, codes.InvalidArgument, "limit"},
		{"SetPin bare version without package", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "Lonely", Manifest: "1.3", Force: true})
			return err
		}, codes.InvalidArgument, "no proto package"},
		{"SetPin long reason", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", Reason: strings.Repeat("r", MaxReasonLen+1)})
			return err
		}, codes.InvalidArgument, "reason"},
		{"SetPin negative revision", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.3", ExpectedRevision: -4})
			return err
		}, codes.InvalidArgument, "negative"},
		{"SetPin stale revision", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: testSvc, Manifest: "1.2", ExpectedRevision: 1})
			return err
		}, codes.Aborted, "expected 1"},
		{"SetPin unknown service", func(ctx context.Context) error {
			_, err := c.SetPin(ctx, &rollpinv1.SetPinRequest{Service: "acme.volume.v1.VolumeSevrice", Manifest: "1.3"})
			return err
		}, codes.NotFound, "pindctl status"},
		{"Hold without reason", func(ctx context.Context) error {
			_, err := c.Hold(ctx, &rollpinv1.HoldRequest{Service: testSvc})
			return err
		}, codes.InvalidArgument, "reason is required"},
		{"Hold bad reason", func(ctx context.Context) error {
			_, err := c.Hold(ctx, &rollpinv1.HoldRequest{Service: testSvc, Reason: "a\x07b"})
			return err
		}, codes.InvalidArgument, "control"},
		{"Hold unknown service", func(ctx context.Context) error {
			_, err := c.Hold(ctx, &rollpinv1.HoldRequest{Service: "acme.Nope", Reason: "x"})
			return err
		}, codes.NotFound, "no service"},
		{"Release bad service", func(ctx context.Context) error {
			_, err := c.Release(ctx, &rollpinv1.ReleaseRequest{Service: "a b"})
			return err
		}, codes.InvalidArgument, "not allowed"},
		{"SetMode unspecified", func(ctx context.Context) error {
			_, err := c.SetMode(ctx, &rollpinv1.SetModeRequest{Service: testSvc})
			return err
		}, codes.InvalidArgument, "PIN_MODE_AUTO"},
		{"SetMode unknown value", func(ctx context.Context) error {
			_, err := c.SetMode(ctx, &rollpinv1.SetModeRequest{Service: testSvc, Mode: 42})
			return err
		}, codes.InvalidArgument, "mode"},
		{"GetPins bad service", func(ctx context.Context) error {
			_, err := c.GetPins(ctx, &rollpinv1.GetPinsRequest{Service: "x/../y"})
			return err
		}, codes.InvalidArgument, "not allowed"},
		{"GetPins unknown service", func(ctx context.Context) error {
			_, err := c.GetPins(ctx, &rollpinv1.GetPinsRequest{Service: "acme.Nope"})
			return err
		}, codes.NotFound, "no service"},
		{"ListInstances bad service", func(ctx context.Context) error {
			_, err := c.ListInstances(ctx, &rollpinv1.ListInstancesRequest{Service: ".x"})
			return err
		}, codes.InvalidArgument, "empty name component"},
		{"WatchPins negative revision", func(ctx context.Context) error {
			st, err := c.WatchPins(ctx, &rollpinv1.WatchPinsRequest{StartRevision: -1})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, codes.InvalidArgument, "negative"},
		{"Register no instance", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Services: []string{testSvc}})
		}, codes.InvalidArgument, "instance is missing"},
		{"Register empty id", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("", ""), Services: []string{testSvc}})
		}, codes.InvalidArgument, "id is empty"},
		{"Register slash in id", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("a/b", ""), Services: []string{testSvc}})
		}, codes.InvalidArgument, "'/'"},
		{"Register space in id", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("a b", ""), Services: []string{testSvc}})
		}, codes.InvalidArgument, "printable"},
		{"Register long id", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst(strings.Repeat("i", MaxInstanceIDLen+1), ""), Services: []string{testSvc}})
		}, codes.InvalidArgument, "limit"},
		{"Register bad manifest", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("i", "acme=1"), Services: []string{testSvc}})
		}, codes.InvalidArgument, "instance.manifest"},
		{"Register long build", func(context.Context) error {
			in := inst("i", "")
			in.Build = strings.Repeat("b", MaxBuildLen+1)
			return register(&rollpinv1.RegisterRequest{Instance: in, Services: []string{testSvc}})
		}, codes.InvalidArgument, "instance.build"},
		{"Register long address", func(context.Context) error {
			in := inst("i", "")
			in.Address = strings.Repeat("a", MaxAddressLen+1)
			return register(&rollpinv1.RegisterRequest{Instance: in, Services: []string{testSvc}})
		}, codes.InvalidArgument, "instance.address"},
		{"Register no services", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("i", "")})
		}, codes.InvalidArgument, "services is empty"},
		{"Register bad service", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("i", ""), Services: []string{testSvc, "x/y"}})
		}, codes.InvalidArgument, "services[1]"},
		{"Register too many services", func(context.Context) error {
			svcs := make([]string, MaxServicesPerInstance+1)
			for i := range svcs {
				svcs[i] = "acme.S"
			}
			return register(&rollpinv1.RegisterRequest{Instance: inst("i", ""), Services: svcs})
		}, codes.InvalidArgument, "limit"},
		{"Register below the pin", func(context.Context) error {
			return register(&rollpinv1.RegisterRequest{Instance: inst("old", "acme.volume.v1=1.2"), Services: []string{testSvc}})
		}, codes.FailedPrecondition, "pindctl pin lower " + testSvc + " 1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctxT(t))
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}
	// Nothing above changed the pin.
	gp, err := c.GetPins(ctxT(t), &rollpinv1.GetPinsRequest{})
	if err != nil || len(gp.GetServices()) != 1 || gp.GetServices()[0].GetPin().GetManifest() != "acme.volume.v1=1.3" {
		t.Fatalf("GetPins after bad inputs = %v, %v; want only %s at 1.3", gp, err, testSvc)
	}
}

func FuzzServiceName(f *testing.F) {
	for _, s := range []string{testSvc, "", "a", "a.b", "a..b", ".a", "a.", "a/b", "../x", "a\x00b", "_x.Y9", "9a", "a.b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkServiceName("service", name) != nil {
			return
		}
		// An accepted name stays inside its key and parses back.
		k := keys{prefix: DefaultPrefix}
		svc, _, isPin, ok := k.parse(k.pin(name))
		if !ok || !isPin || svc != name {
			t.Fatalf("parse(pin(%q)) = %q, %v, %v", name, svc, isPin, ok)
		}
		if strings.ContainsAny(name, "/ \x00") || strings.Contains(name, "..") || len(name) > MaxServiceNameLen {
			t.Fatalf("checkServiceName accepted %q", name)
		}
	})
}

func FuzzInstanceID(f *testing.F) {
	for _, s := range []string{"host:8080", "", "a/b", "pod-1", "a b", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if checkInstanceID(id) != nil {
			return
		}
		k := keys{prefix: DefaultPrefix}
		svc, got, isPin, ok := k.parse(k.instance(testSvc, id))
		if !ok || isPin || svc != testSvc || got != id {
			t.Fatalf("parse(instance(%q)) = %q, %q, %v, %v", id, svc, got, isPin, ok)
		}
	})
}

func FuzzResolvePinText(f *testing.F) {
	for _, s := range []string{"1.3", "acme.volume.v1=1.4", "acme.x=1.0,acme.volume.v1=2.1", "", "1.x", "=", "a=1.1,a=1.2"} {
		f.Add(s)
	}
	cur := backport.MustManifest(backport.Entry{Track: "acme.types.v1", Version: backport.Version{Major: 2}})
	f.Fuzz(func(t *testing.T, text string) {
		m, err := resolvePinText(testSvc, text, cur)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("resolvePinText(%q) error code %v", text, status.Code(err))
			}
			return
		}
		back, err := backport.ParseManifest(m.String())
		if err != nil || !back.Equal(m) || m.IsEmpty() {
			t.Fatalf("resolvePinText(%q) = %q does not round-trip (%v)", text, m, err)
		}
	})
}

func TestFloor(t *testing.T) {
	t.Parallel()
	mm := func(s string) backport.Manifest {
		m, err := backport.ParseManifest(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a=1.3"}, "a=1.3"},
		{[]string{"a=1.4", "a=1.3", "a=1.5"}, "a=1.3"},
		{[]string{"a=1.4,b=2.0", "a=1.3,b=2.1"}, "a=1.3,b=2.0"},
		{[]string{"a=1.4,b=2.0", "a=1.3"}, "a=1.3,b=2.0"}, // b only in some: min over those
		{[]string{"a=2.0", "a=1.9"}, "a=1.9"},
	} {
		var ms []backport.Manifest
		for _, s := range tc.in {
			ms = append(ms, mm(s))
		}
		if got := Floor(ms).String(); got != tc.want {
			t.Errorf("Floor(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
