// Package compat checks an API's rollpin annotations against its previous
// release, and proves that downgrades round-trip.
//
// The weakest point of a versioned API is the author who adds a field and
// forgets its version. compat catches that from the schema alone, in the API
// author's CI, before the release ships.
//
// # Checks
//
// Lint looks at one schema and reports the verdicts of
// backport.CheckAnnotations, the very rules the engine compiles plans with:
// versions parse, no since is above its package's api version, a package's
// files agree on that version, on_downgrade, default and downgrade_to appear
// only with a since, defaults parse, downgrade_to names an older value. What
// Lint accepts the engine compiles, and the other way round.
//
// Diff compares the current schema with the previous release: every added field, enum value and method carries a
// since above the previous track version and in the track's current major,
// the track version rises when something was added, never goes back and is
// never dropped, an existing element keeps its since, default, number, name,
// JSON name, oneof and type, a method keeps its request and response types,
// and an element disappears only after a release in which it was deprecated
// (a field's or enum value's number then reserved; another field on an old
// number is a finding). These cover the wire and JSON breaks that make an
// old peer misread a message, so Check needs no buf. The methods of a new
// service count as added; the fields of a new message and the values of a
// new enum need no since of their own, because only an added field or
// method (which carries one) can lead to a new type, but a since they carry
// must be new. A changed default has its own rule (RuleDefaultChanged) so
// that a deliberate change can be allowed (pindctl check --allow). Check
// runs both on descriptor sets or buf images:
//
//	prev, err := compat.ReadImage("release-1.3.binpb") // buf build -o release-1.3.binpb
//	cur, err := compat.ReadImage("head.binpb")
//	findings, err := compat.Check(prev, cur)
//	for _, f := range findings {
//		fmt.Println(f) // file: element: RULE: message; fix: ...
//	}
//
// The same rules run inside buf (`buf lint`, `buf breaking`) through the
// buf-plugin-rollpin check plugin, and in `pindctl check --against IMAGE`.
//
// # Round trips
//
// The round-trip test harness lives in compat/compattest
// (compattest.RoundTrip), so that programs linking compat do not link the
// testing package.
package compat
