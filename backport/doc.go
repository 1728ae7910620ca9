// Package backport derives downgrades and defaults from proto annotations.
//
// API authors annotate fields, methods and enum values with the version of
// their package's track that added them (options in
// proto/rollpin/v1/options.proto). backport turns those annotations into:
//
//   - Downgrade: a copy of a message that a peer at an older version
//     understands, with newer fields cleared, rejected or rewritten by a
//     registered hook;
//   - FillDefaults: the declared defaults of fields an older sender could not
//     know, set in place.
//
// # Versions and manifests
//
// A Version is MAJOR.MINOR. A Manifest maps tracks (proto packages that
// declare option (rollpin.v1.api)) to versions; its text form is
// "acme.types.v1=2.0,acme.volume.v1=1.3".
//
//	cap, err := backport.ParseManifest("acme.volume.v1=1.3")
//	out, err := backport.Downgrade(req, cap)
package backport
