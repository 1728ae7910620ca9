// Package compattest is a test harness for API evolution: RoundTrip sends
// random messages between two releases of a schema through the backport
// engine and fails the test when meaning is lost on the way.
//
//	func TestRoundTrip(t *testing.T) {
//		prev, _ := compat.ReadImage("testdata/v1.binpb")
//		cur, _ := compat.ReadImage("testdata/v2.binpb")
//		compattest.RoundTrip(t, prev, cur, compattest.WithCount(500))
//	}
//
// It lives apart from compat so that programs linking compat (pindctl, the
// buf plugin) do not link the testing package. RoundTrip builds its own
// backport.Engine for the descriptors it loads and registers nothing
// globally.
package compattest
