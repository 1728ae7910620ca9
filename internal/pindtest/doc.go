// Package pindtest starts a real pind for the tests of packages that talk
// to one: a pinsvc.Server on an embedded etcd (or a given etcd client),
// serving gRPC on a loopback port, with a client connected to it, all
// stopped when the test ends. Tests inside pinsvc cannot use it (pindtest
// imports pinsvc) and keep their own harness.
package pindtest
