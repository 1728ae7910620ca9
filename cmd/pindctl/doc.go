// Command pindctl is the operator's view and controls of a rollpin fleet: it
// shows where every gRPC service stands in its upgrade, and holds, raises or
// lowers the version pins that pind stores.
//
// # Usage
//
//	pindctl status                                   # every service: pin, floor, instances, progress
//	pindctl watch                                    # a line per change, until Ctrl-C
//	pindctl hold VolumeService --reason "canary"     # freeze automatic raises
//	pindctl pin set VolumeService 1.4 --dry-run      # what a raise would do, who blocks it
//	pindctl pin lower VolumeService 1.3              # roll back
//	pindctl mode VolumeService manual                # only operators raise
//	pindctl manifest --descriptor-set image.binpb    # what a binary built from image.binpb announces
//
// # Connection
//
// --endpoints lists pind addresses (default 127.0.0.1:7070), tried in order.
// --tls-ca enables TLS; --tls-cert and --tls-key add a client certificate.
// --token is sent as "authorization: Bearer <token>". Every global flag can
// also be set as PINDCTL_<FLAG> in the environment (PINDCTL_TLS_CA).
//
// # Service names
//
// A service may be named in full (acme.volume.v1.VolumeService) or by a
// unique suffix at a dot boundary (VolumeService, v1.VolumeService). An
// ambiguous suffix is an error listing the candidates.
//
// # Concurrency
//
// Writes carry the pin revision pindctl read, so two operators cannot lose
// each other's changes: the second write fails with "pin changed since read;
// run again".
//
// # Exit codes
//
// 0 when the command did what was asked, 1 when pind refused it or it could
// not be made, 2 for bad flags or arguments.
package main
