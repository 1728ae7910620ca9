// Package backport derives downgrades and defaults from proto annotations.
//
// API authors annotate fields, methods and enum values with the version of
// their package's track that added them (options in
// proto/rollpin/v1/options.proto). backport turns those annotations into:
//
//   - Downgrade: a copy of a message that a peer at an older version
//     understands, with newer fields cleared, rejected or rewritten by a
//     registered hook, and newer enum values replaced by their downgrade_to;
//   - FillDefaults: the declared defaults of fields an older sender could not
//     know, set in place.
//
// It is a pure library (no gRPC, no etcd) and works on any proto.Message,
// generated or dynamicpb.
//
//	cap, err := backport.ParseManifest("acme.volume.v1=1.3")
//	out, err := backport.Downgrade(req, cap) // req itself when nothing is newer
//	var rej *backport.RejectError
//	if errors.As(err, &rej) { /* rej.Path, rej.Since, rej.Cap */ }
//
//	err = backport.FillDefaults(req, senderManifest) // on the receiving side
//
// # Versions, tracks and manifests
//
// A Version is MAJOR.MINOR. A track is a proto package that declares
// option (rollpin.v1.api) = {version: "..."} in at least one of its files;
// messages, enums and services belong to the track of their package. A
// Manifest maps tracks to versions; its text form is
// "acme.types.v1=2.0,acme.volume.v1=1.3". A track absent from a cap is
// uncapped; a cap at or above the schema's version is nothing to do; a cap in
// another major is an error (ErrAcrossMajors).
//
// # Schema helpers
//
// FileAPIOptions, FieldOptions, MethodOptions and EnumValueOptions read the
// rollpin options through one resolver that copes with generated options,
// dynamicpb options and options left in unknown fields (descriptor sets read
// at run time). TrackOf, TrackOfIn, MethodSince, ReachableTracks,
// ManifestOf, ManifestOfFiles and CheckMessage answer the questions the
// interceptors, pind and the linters ask.
//
// A package's declaration may sit in any of its files. For descriptors
// linked into the binary, protoregistry.GlobalFiles finds it; for
// descriptors built at run time, files reachable through imports are
// searched, and an engine built with New(WithFiles(files)) searches files.
//
// # Engines
//
// An Engine holds a descriptor resolver, a plan cache and hooks. The
// package-level functions use the default engine (Default), which reads
// protoregistry.GlobalFiles and holds the hooks registered with
// RegisterDowngrader and RegisterUpgrader. A proxy serving descriptor sets
// read at run time builds its own with New(WithFiles(files),
// WithDowngrader(...)) and drops it, with its plans, when it reloads them.
//
// # Plans
//
// The first Downgrade or FillDefaults of a message type compiles a plan for
// it and every type it reaches (cycles included), validating every option:
// invalid values are reported, naming the element, by CheckMessage and by
// every call on the type (wrapping ErrSchema), never by a panic. Plans are
// cached per descriptor in a copy-on-write map read with one atomic load.
// A plan knows, per track, the highest since in its subtree: when the cap
// is at or above it on every track, Downgrade returns its input without
// allocating.
//
// Below that, Downgrade runs the plan specialised to the cap: which fields
// are newer than it, which sub-trees hold something newer, which enums have
// values above it, all decided once per cap (per distinct versions of the
// tracks the message reaches) and kept for the last few caps of each root
// type. A call then looks only at the fields the cap affects. MayFill
// answers from the plan alone whether FillDefaults could do anything for a
// sender.
//
// # Annotation rules
//
// What an annotation may say is decided in one place: the rules listed by
// Rules, applied by the plan compiler and by CheckAnnotations, which package
// compat, pindctl check and buf-plugin-rollpin report. Every schema error is
// a *Violation naming the file, the element and the Rule.
//
// # Copies and generated code
//
// For message types generated with protoc-gen-go-rollpin, the engine runs
// the generated code: plain Go that copies only the messages, lists and
// maps on the path to a change and shares every unchanged sub-message, list
// and map with its input, as hand-written code would. Treat the input and
// the output as read-only afterwards. The engine uses generated code only
// when it covers the schema the engine compiles from the descriptors (the
// code of every message in the subtree was generated from the same
// annotations); WithGeneratedCode(false) turns it off.
//
// Everything else (dynamicpb, proxies, packages generated without the
// plugin) goes through protoreflect. Copying a message field by field
// through protoreflect costs more than proto.Clone copying a whole tree, so
// that path first checks, reading only, whether anything must change, then
// clones the message once and downgrades the clone in place. No unsafe
// code and no protobuf internals are involved on either path.
//
// # Unknown fields
//
// Unknown fields are newer than anything this binary knows. One rule holds
// at every depth: when the cap is below this binary's version of a track,
// every message of that track loses its unknown fields; when the cap covers
// the binary's version, they pass through untouched, as do those of
// messages of unversioned packages. A message that has nothing else to
// change and no unknown fields is returned as it is, without allocating.
//
// # Hooks
//
// RegisterDowngrader and RegisterUpgrader attach Go code to a message name
// for what options cannot say (like oslo.versionedobjects'
// obj_make_compatible). Downgraders run on a private deep copy when a
// populated ON_DOWNGRADE_CUSTOM field is newer than the cap; upgraders run
// from FillDefaults when the sender is older than the schema.
package backport
