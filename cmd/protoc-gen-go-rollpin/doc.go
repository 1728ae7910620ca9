// Command protoc-gen-go-rollpin generates typed downgraders and default
// fillers for the messages of rollpin tracks, next to protoc-gen-go's
// output.
//
// For every message of a versioned package, and every message that reaches
// one, it emits plain Go (no reflection): RollpinDowngrade copies only the
// messages, lists and maps on the path to a change, clears fields newer
// than the cap, returns backport.RejectError for REJECT fields and enum
// values without downgrade_to, rewrites enum values, and calls the
// message's CUSTOM hook; RollpinFill sets the declared defaults an older
// sender could not send. For every enum with versioned values it emits
// RollpinDowngrade on the enum type. The generated code registers itself
// with package backport at init; backport uses it for these Go types and
// protoreflect for everything else (dynamicpb, proxies, packages generated
// without the plugin). Messages whose ON_DOWNGRADE_CUSTOM fields need a hook
// get typed helpers: With<Message>Downgrader / Register<Message>Downgrader
// and the Upgrader pair, taking func(*<Message>, backport.Manifest) error.
//
// Every package of a track, and every package whose messages reach one,
// must be generated with the plugin for the generated path to be used (the
// engine checks this and falls back to protoreflect otherwise). A schema
// whose rollpin options the engine refuses fails generation.
//
// # buf.gen.yaml
//
// Inside the module that imports github.com/rollpin/rollpin:
//
//	plugins:
//	  - local: ["go", "tool", "protoc-gen-go"]
//	    out: .
//	    opt: paths=source_relative
//	  - local: ["go", "run", "github.com/rollpin/rollpin/cmd/protoc-gen-go-rollpin"]
//	    out: .
//	    opt: paths=source_relative
//
// (or `go install github.com/rollpin/rollpin/cmd/protoc-gen-go-rollpin` and
// `local: protoc-gen-go-rollpin`). It writes <file>_rollpin.pb.go.
package main
